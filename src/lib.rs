//! JWT authentication for any [Tower](https://docs.rs/tower) service: axum routers, bare hyper
//! and tonic gRPC servers alike (a gRPC call is refused with a gRPC status).
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
//! # Modules
//!
//! The names most applications need are at the root; the rest live in the module of the part
//! they configure, along the path a request takes (ARCHITECTURE.md has one line a module):
//!
//! - [`source`]: where the token comes from ([`TokenSource`], [`source::BearerToken`]).
//! - [`keys`]: verification keys ([`Key`]); [`jwks`]: keys from an identity provider.
//! - [`verify`]: the pipeline, usable outside a request ([`verify::Verifier`]).
//! - [`layer`]: [`JwtLayer`], its builder, service, future and defaults.
//! - [`revocation`]: revocation stores and the [`revocation::Revoker`] handlers log out with.
//! - [`guard`]: [`RequireRoles`], [`RequireScope`], [`RequireClaims`] and what they read.
//! - [`claims`]: [`claims::JsonClaims`], [`claims::NumericDate`].
//! - [`error`]: [`AuthError`] and its table, the configuration and session errors.
//! - [`issuer`]: [`issuer::JwtIssuer`] signs access tokens this layer accepts; [`refresh`]:
//!   [`refresh::Sessions`] adds refresh tokens with rotation and reuse detection, logout and
//!   "log out everywhere"; [`session`]: handler-driven session cookies and CSRF.
//! - [`env`](mod@env): a layer configured from `JWT_*` variables.
//! - [`telemetry`]: the decision span's fields, the events, and the metrics' names.
//! - `openapi` (feature `utoipa`): security schemes and requirements for OpenAPI documents.
//! - `test_util` (feature `test-util`): a test identity provider for applications' tests.
//!
//! # Cargo features
//!
//! - `aws-lc-rs` (default): verify signatures with aws-lc-rs.
//! - `rust-crypto`: verify signatures with the pure-Rust RustCrypto crates.
//! - `jwks`: [`jwks::RemoteKeySet`], keys from an identity provider (JWKS, OIDC discovery).
//! - `redis`: `revocation::RedisRevocationStore` and `refresh::RedisRefreshStore`, revocations and
//!   refresh tokens shared by many instances through Redis.
//! - `metrics`: counters and histograms of decisions, the cache, JWKS fetches and backends
//!   through the `metrics` facade ([`telemetry`] names them).
//! - `utoipa`: `openapi`, the layer's security schemes and the guards' requirements as
//!   `utoipa` types, for an OpenAPI document.
//! - `test-util`: `test_util::TestIdentityProvider`, an identity provider for an application's
//!   tests: generated keys, tokens of every kind, its keys served on 127.0.0.1 (enables `jwks`).
//!
//! With both crypto backends enabled, `aws-lc-rs` is used; with neither, the crate does not
//! compile, and says which feature to enable.
#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's examples, compiled as doctests (they use every optional feature).
#[cfg(all(
    doctest,
    feature = "jwks",
    feature = "redis",
    feature = "test-util",
    feature = "utoipa"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tower-jwt-auth needs a crypto backend: enable its `aws-lc-rs` feature (the default) or \
     `rust-crypto`"
);

mod charset;
mod checks;
pub mod claims;
mod clock;
mod crypto;
pub mod dpop;
pub mod env;
pub mod error;
mod extract;
pub mod guard;
pub mod issuer;
mod jws;
pub mod keys;
pub mod layer;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
#[cfg(feature = "redis")]
mod redis;
pub mod refresh;
mod request;
pub mod resource;
pub mod revocation;
pub mod session;
pub mod source;
pub mod telemetry;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;
mod user;
pub mod verify;

/// Keys from an identity provider: a JWKS document over HTTPS, or OpenID Connect discovery
/// (cargo feature `jwks`).
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks {
    pub use crate::keys::jwks::{
        DEFAULT_COOLDOWN, DEFAULT_HTTP_TIMEOUT, DEFAULT_REFRESH_INTERVAL, MAX_DOCUMENT_BYTES,
        RemoteKeySet, RemoteKeySetBuilder,
    };
}

pub use error::AuthError;
pub use extract::Claims;
pub use guard::{RequireClaims, RequireRoles, RequireScope};
pub use jsonwebtoken::Algorithm;
pub use keys::Key;
pub use layer::JwtLayer;
pub use source::TokenSource;
pub use user::CurrentUser;

/// The boxed future the crate's asynchronous traits return (`RevocationStore`, `RefreshStore`,
/// `DpopReplayStore`…): the very type `futures::future::BoxFuture` names, so an implementation
/// may use either.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
