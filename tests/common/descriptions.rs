//! The descriptions a refusal may carry, for the test suites and the fuzz targets (which include
//! this file by path), so that both check against one list.

/// The descriptions of the error table that a refusal of a bad token or a bad request can carry
/// (400 `invalid_request` and 401 `invalid_token`), besides those that quote configuration.
pub const REFUSAL_DESCRIPTIONS: &[&str] = &[
    "Authorization header not found.",
    "Auth cookie not found.",
    "Token not found.",
    "Expected a bearer token. Scheme is Authorization: Bearer <token>.",
    "Multiple tokens in request.",
    "jwt malformed",
    "invalid token",
    "invalid algorithm",
    "jwt signature is required",
    "invalid signature",
    "jwt crit header not supported",
    "jwt expiration required",
    "invalid exp value",
    "invalid nbf value",
    "invalid iat value",
    "jwt expired",
    "jwt not active",
    "jwt issued in the future",
    "iat required when maxAge is specified",
    "maxAge exceeded",
    "jwt lifetime exceeds the maximum",
    "missing kid",
    "invalid kid",
    "jwt revoked",
    "DPoP proof nonce required",
    "DPoP key binding invalid",
    "jwt bound to a DPoP key",
    "Expected a DPoP token. Scheme is Authorization: DPoP <token>.",
];

/// The start of the description of a refused DPoP proof; the check that failed follows.
pub const DPOP_PROOF_DESCRIPTION_PREFIX: &str = "invalid DPoP proof: ";

/// The descriptions that quote the layer's configuration (never the token).
pub const CONFIGURED_DESCRIPTION_PREFIXES: &[&str] = &[
    "jwt typ invalid. expected: ",
    "jwt audience invalid. expected: ",
    "jwt issuer invalid. expected: ",
    "jwt subject invalid. expected: ",
];
