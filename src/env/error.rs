//! [`EnvError`]: why the environment was refused, naming the variables at fault.

use std::fmt;

/// Why [`EnvConfig`](super::EnvConfig) (or [`from_env`](super::from_env)) refused the environment. Every variant names the
/// variables at fault, prefix included; no message ever contains a secret or a key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvError {
    /// None of the key variables is set.
    NoKeySource {
        /// The key variables, one of which must be set.
        variables: Vec<String>,
    },
    /// More than one key variable is set.
    ContradictoryKeySources {
        /// The key variables that are set.
        variables: Vec<String>,
    },
    /// The variable needs a cargo feature of this crate that is not enabled.
    FeatureDisabled {
        /// The variable.
        variable: String,
        /// The cargo feature it needs.
        feature: &'static str,
    },
    /// The variable's value is invalid.
    Invalid {
        /// The variable.
        variable: String,
        /// What is wrong with it (never the value of a secret or key).
        reason: String,
    },
    /// The variable only means something with another one, which is not set.
    Inapplicable {
        /// The variable that is set.
        variable: String,
        /// The variable it applies to.
        applies_to: String,
    },
    /// The variable's value is not valid Unicode.
    NotUnicode {
        /// The variable.
        variable: String,
    },
}

impl EnvError {
    /// The variables this error is about, prefix included.
    pub fn variables(&self) -> Vec<&str> {
        match self {
            Self::NoKeySource { variables } | Self::ContradictoryKeySources { variables } => {
                variables.iter().map(String::as_str).collect()
            }
            Self::FeatureDisabled { variable, .. }
            | Self::Invalid { variable, .. }
            | Self::NotUnicode { variable } => vec![variable],
            Self::Inapplicable {
                variable,
                applies_to,
            } => vec![variable, applies_to],
        }
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKeySource { variables } => write!(
                f,
                "no JWT verification key configured: set one of {}",
                join(variables, "or")
            ),
            Self::ContradictoryKeySources { variables } => write!(
                f,
                "contradictory JWT key sources: {} are {} set; set exactly one",
                join(variables, "and"),
                if variables.len() == 2 { "both" } else { "all" }
            ),
            Self::FeatureDisabled { variable, feature } => write!(
                f,
                "{variable} is set but tower-jwt-auth was built without its `{feature}` feature"
            ),
            Self::Invalid { variable, reason } => write!(f, "invalid {variable}: {reason}"),
            Self::Inapplicable {
                variable,
                applies_to,
            } => write!(
                f,
                "{variable} is set but only applies to {applies_to}, which is not set"
            ),
            Self::NotUnicode { variable } => write!(f, "{variable} is not valid Unicode"),
        }
    }
}

impl std::error::Error for EnvError {}

/// `a, b or c`.
fn join(items: &[String], last: &str) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., final_item] => format!("{} {last} {final_item}", rest.join(", ")),
    }
}
