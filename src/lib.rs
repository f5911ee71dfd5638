//! JWT authentication for any [Tower](https://docs.rs/tower) service: axum routers and bare
//! hyper alike.
//!
//! [`JwtLayer`] reads the token from `Authorization: Bearer` or an `auth` cookie, verifies it
//! with keys and rules prepared once when the layer is built, and puts the typed [`Claims`] into
//! the request extensions. Every refusal follows the FoalTS JWT hooks' error table: 400
//! `invalid_request` or 401 `invalid_token`, a JSON `{"code","description"}` body and an
//! RFC 6750 `WWW-Authenticate: Bearer …` challenge (see [`AuthError`]).
//!
//! # Example
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use serde::Deserialize;
//! use tower_jwt_auth::{Claims, JwtLayer, Key, TokenSource};
//!
//! #[derive(Debug, Deserialize)]
//! struct User {
//!     sub: String,
//!     roles: Vec<String>,
//! }
//!
//! async fn me(user: Claims<User>) -> Json<Vec<String>> {
//!     Json(user.roles.clone())
//! }
//!
//! async fn hello(user: Option<Claims<User>>) -> String {
//!     match user {
//!         Some(user) => format!("hello {}", user.sub),
//!         None => "hello stranger".into(),
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| "x".repeat(32));
//! let required = JwtLayer::builder()
//!     .claims::<User>()
//!     .key(Key::hmac(&secret))
//!     .issuer("https://auth.example.com")
//!     .audience("my-api")
//!     .build()?;
//! let optional = JwtLayer::builder()
//!     .claims::<User>()
//!     .key(Key::hmac(&secret))
//!     .source(TokenSource::header_or_cookie())
//!     .optional()
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/me", get(me).route_layer(required))
//!     .route("/hello", get(hello).route_layer(optional));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # if false {
//! axum::serve(listener, app).await?;
//! # }
//! # Ok(())
//! # }
//! ```
//!
//! # Cargo features
//!
//! - `aws-lc-rs` (default): verify signatures with aws-lc-rs.
//! - `rust-crypto`: verify signatures with the pure-Rust RustCrypto crates.
//! - `jwks`: `RemoteKeySet`, keys from an identity provider (JWKS, OIDC discovery).
//! - `redis`: `RedisRevocations` and `RedisRefreshStore`, revocations and refresh tokens shared
//!   by many instances through Redis.
//!
//! # Issuing tokens
//!
//! [`JwtIssuer`] signs access tokens this layer accepts, and [`Sessions`] adds refresh tokens
//! with rotation and reuse detection, logout and "log out everywhere".
//!
//! With both enabled, `aws-lc-rs` is used; with neither, [`JwtLayerBuilder::build`] returns
//! [`ConfigError::NoCryptoBackend`] instead of panicking at the first request.
#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's examples, compiled as doctests (they use every optional feature).
#[cfg(all(doctest, feature = "jwks", feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod charset;
mod checks;
mod claims;
mod clock;
mod env;
mod error;
mod extract;
mod guard;
mod issuer;
mod jws;
mod keys;
mod layer;
#[cfg(feature = "redis")]
mod redis;
mod refresh;
mod revocation;
mod session;
mod source;
mod user;
mod verify;

pub use checks::DEFAULT_BACKEND_TIMEOUT;
pub use claims::{JsonClaims, NumericDate};
pub use clock::Clock;
pub use env::{EnvConfig, EnvError, from_env, from_env_with_prefix};
pub use error::{
    AuthError, BoxError, ConfigError, ErrorHandler, IssueError, RETRY_AFTER_SECS, SessionError,
};
pub use extract::Claims;
pub use guard::{
    ClaimPath, Grants, Guard, GuardService, RequireClaims, RequireRoles, RequireScope,
    scope_list_contains,
};
pub use issuer::{
    ACCESS_TOKEN_TYP, DEFAULT_ACCESS_LIFETIME, IssuedToken, JwtIssuer, JwtIssuerBuilder, SigningKey,
};
pub use jsonwebtoken::Algorithm;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use keys::jwks::{
    DEFAULT_COOLDOWN, DEFAULT_HTTP_TIMEOUT, DEFAULT_REFRESH_INTERVAL, MAX_DOCUMENT_BYTES,
    RemoteKeySet, RemoteKeySetBuilder,
};
pub use keys::{Key, install_crypto_provider};
pub use layer::{
    DEFAULT_MAX_LIFETIME, DEFAULT_MAX_TOKEN_LEN, JwtLayer, JwtLayerBuilder, JwtService, MAX_LEEWAY,
    Mode, ResponseBody, ResponseFuture,
};
pub use refresh::{
    Consumed, DEFAULT_REFRESH_CAPACITY, DEFAULT_REFRESH_LIFETIME,
    DEFAULT_REFRESH_TOKENS_PER_SUBJECT, MemoryRefreshStore, RefreshRecord, RefreshStore, Rotation,
    Sessions, SessionsBuilder, TokenPair,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use refresh::{DEFAULT_REDIS_REFRESH_PREFIX, RedisRefreshStore};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use revocation::{DEFAULT_REDIS_PREFIX, RedisRevocations};
pub use revocation::{
    DEFAULT_REVOCATION_CAPACITY, DEFAULT_REVOCATIONS_PER_SUBJECT, MemoryRevocations, Revocations,
    Revoker, TokenFacts,
};
pub use session::{
    CSRF_HEADERS, ClearSession, DEFAULT_CSRF_COOKIE_NAME, SameSite, SessionCookie, SetSession,
};
pub use source::{BearerToken, DEFAULT_COOKIE_NAME, TokenSource};
pub use user::CurrentUser;
pub use verify::{VerifiedJws, Verifier};
