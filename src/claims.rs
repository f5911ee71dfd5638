//! The claims types the layer hands to handlers.

use std::ops::Deref;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The default claims type: every claim of the payload, as JSON.
///
/// Use your own `#[derive(Deserialize)]` struct with
/// [`JwtLayerBuilder::claims`](crate::JwtLayerBuilder::claims) when you know the shape: the
/// payload is then parsed straight into it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonClaims(pub Map<String, Value>);

impl JsonClaims {
    /// The `sub` claim, when it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.0.get("sub").and_then(Value::as_str)
    }
}

impl Deref for JsonClaims {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
