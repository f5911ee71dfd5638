//! The claims types the layer hands to handlers, and [`NumericDate`] for users' own.

use std::ops::Deref;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use serde_json::{Map, Value};

/// The default claims type: every claim of the payload, as JSON.
///
/// Use your own `#[derive(Deserialize)]` struct with
/// [`JwtLayerBuilder::claims`](crate::layer::JwtLayerBuilder::claims) when you know the shape: the
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

/// A NumericDate (RFC 7519 §2): seconds since the Unix epoch, which the RFC allows to be
/// fractional (`"exp": 1700000000.5`), for the time claims of your own claims type.
///
/// A `u64` field refuses a fractional date, and so the whole token, although the layer has
/// already accepted its time claims; a `NumericDate` field takes any finite JSON number.
/// It serializes as an integer when it is whole.
///
/// ```
/// use serde::Deserialize;
/// use tower_jwt_auth::claims::NumericDate;
///
/// #[derive(Deserialize)]
/// struct MyClaims {
///     sub: String,
///     exp: NumericDate,
/// }
///
/// let claims: MyClaims = serde_json::from_str(r#"{"sub":"alice","exp":1700000000.5}"#).unwrap();
/// assert_eq!(claims.exp.as_f64(), 1_700_000_000.5);
/// assert_eq!(claims.exp.whole_secs(), 1_700_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct NumericDate(f64);

impl NumericDate {
    /// A whole number of seconds since the epoch.
    pub fn from_secs(secs: u64) -> Self {
        Self(secs as f64)
    }

    /// Seconds since the epoch, possibly fractional; `None` unless finite.
    pub fn from_f64(secs: f64) -> Option<Self> {
        secs.is_finite().then_some(Self(secs))
    }

    /// Seconds since the epoch, as given.
    pub fn as_f64(self) -> f64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down; 0 for a date before the epoch.
    pub fn whole_secs(self) -> u64 {
        // Float-to-integer casts saturate: a huge date gives u64::MAX.
        self.0.max(0.0) as u64
    }

    /// The moment, when `SystemTime` can hold it.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let offset = Duration::try_from_secs_f64(self.0.abs()).ok()?;
        if self.0 >= 0.0 {
            UNIX_EPOCH.checked_add(offset)
        } else {
            UNIX_EPOCH.checked_sub(offset)
        }
    }
}

impl Serialize for NumericDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Integers up to 2^53 are exact in an f64; beyond that the float form is what we hold.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if self.0.fract() == 0.0 && self.0.abs() <= EXACT {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

/// The refusal of a NumericDate that is not a finite number.
pub(crate) const NOT_FINITE: &str = "a NumericDate is a finite number";

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Self::from_f64(secs).ok_or_else(|| de::Error::custom(NOT_FINITE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_take_any_finite_number_and_write_whole_ones_as_integers() {
        for (text, secs) in [
            ("1700000000", 1_700_000_000.0),
            ("1700000000.25", 1_700_000_000.25),
        ] {
            let date: NumericDate = serde_json::from_str(text).unwrap();
            assert_eq!(date.as_f64(), secs);
            assert_eq!(serde_json::to_string(&date).unwrap(), text);
        }
        assert_eq!(
            serde_json::from_str::<NumericDate>("-1.5")
                .unwrap()
                .whole_secs(),
            0
        );
        for text in ["\"1700000000\"", "null", "1e400", "true"] {
            assert!(serde_json::from_str::<NumericDate>(text).is_err(), "{text}");
        }
        assert_eq!(NumericDate::from_f64(f64::NAN), None);
        assert_eq!(
            NumericDate::from_secs(1).to_system_time(),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(
            NumericDate::from_f64(-0.5).and_then(NumericDate::to_system_time),
            UNIX_EPOCH.checked_sub(Duration::from_millis(500))
        );
    }
}
