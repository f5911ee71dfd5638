//! Test support for applications (cargo feature `test-util`): an identity provider inside the
//! test process, so a test of a handler needs no hand-made keys or tokens.
//!
//! A [`TestIdentityProvider`] makes an Ed25519 key when it starts, mints tokens of every kind
//! a test needs (valid, expired, not yet valid, for another audience or issuer, signed by a key
//! nobody published, with any claims), and gives the layer that trusts it. Started with
//! [`TestIdentityProvider::serve`], it also publishes its JWKS and OpenID discovery documents
//! on 127.0.0.1, for tests of a layer with a [`RemoteKeySet`], and
//! rotates and retires keys on demand.
//!
//! A handler tested with `tower::ServiceExt::oneshot`:
//!
//! ```
//! use axum::{Router, body::Body, http::Request, routing::get};
//! use tower::ServiceExt;
//! use tower_jwt_auth::{Claims, test_util::TestIdentityProvider};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let idp = TestIdentityProvider::new();
//! let app = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims["sub"].to_string() }))
//!     .layer(idp.layer().build().unwrap());
//! let token = idp.token().subject("alice").sign();
//! let request = Request::get("/me").header("authorization", format!("Bearer {token}"));
//! let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```
//!
//! Everything here panics on failure, with a message saying what failed, as test helpers do:
//! it is not meant for production code.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower_service::Service;

use crate::claims::JsonClaims;
use crate::issuer::{
    ACCESS_TOKEN_TYP, DEFAULT_ACCESS_LIFETIME, DISCOVERY_PATH, JWKS_PATH, JwtIssuer, SigningKey,
    random_base64url,
};
use crate::jwks::{RemoteKeySet, RemoteKeySetBuilder};
use crate::keys::Key;
use crate::layer::JwtLayerBuilder;
use crate::{JwtLayer, clock};

/// The issuer of a provider that is not served.
pub const DEFAULT_TEST_ISSUER: &str = "https://idp.test";

/// The audience tokens are minted for unless another is set.
pub const DEFAULT_TEST_AUDIENCE: &str = "test-api";

/// The `sub` of minted tokens unless another is set.
pub const DEFAULT_TEST_SUBJECT: &str = "test-user";

/// An identity provider for tests: it signs with keys it generated, mints tokens, and, when
/// served, publishes its keys on 127.0.0.1. See the [module docs](self).
///
/// Dropping it stops its server.
pub struct TestIdentityProvider {
    signer: JwtIssuer,
    issuer: String,
    audience: String,
    server: Option<Server>,
}

/// The provider's HTTP server: its address, and the accept loop stopped on drop.
struct Server {
    url: String,
    jwks_requests: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl std::fmt::Debug for TestIdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdentityProvider")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kid", &self.signer.kid())
            .finish_non_exhaustive()
    }
}

/// Configures a [`TestIdentityProvider`].
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build` or `serve` is called"]
pub struct TestIdentityProviderBuilder {
    audience: Option<String>,
    key: Option<SigningKey>,
}

impl TestIdentityProviderBuilder {
    /// The audience tokens are minted for, and [`TestIdentityProvider::layer`] expects.
    /// Default: [`DEFAULT_TEST_AUDIENCE`].
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The first signing key, asymmetric (RSA, P-256, P-384 or Ed25519), in place of a
    /// generated Ed25519 key: to test a layer's algorithm rules. Keys made by
    /// [`rotate`](TestIdentityProvider::rotate) are Ed25519.
    pub fn key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// A provider that is not served, with the issuer [`DEFAULT_TEST_ISSUER`].
    ///
    /// # Panics
    ///
    /// When the key is an HMAC secret: a provider publishes its keys.
    pub fn build(self) -> TestIdentityProvider {
        self.provider(DEFAULT_TEST_ISSUER.to_owned(), None)
    }

    /// A provider served on 127.0.0.1 (a free port), whose issuer is its URL
    /// (`http://127.0.0.1:PORT`): it publishes [`JWKS_PATH`] and [`DISCOVERY_PATH`], so a
    /// [`RemoteKeySet`] finds its keys by OIDC discovery
    /// ([`remote_keys`](TestIdentityProvider::remote_keys)). Call it inside a Tokio runtime.
    ///
    /// # Panics
    ///
    /// When the key is an HMAC secret, or no port of 127.0.0.1 is free.
    pub async fn serve(self) -> TestIdentityProvider {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot listen on 127.0.0.1");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let url = format!("http://{address}");
        self.provider(url, Some(listener))
    }

    fn provider(self, issuer: String, listener: Option<TcpListener>) -> TestIdentityProvider {
        let key = self.key.unwrap_or_else(generate_ed25519);
        assert!(
            !key.is_hmac(),
            "a TestIdentityProvider publishes its keys: give it an asymmetric key, not an HMAC secret"
        );
        let signer = signer(&issuer, key, None);
        let server = listener.map(|listener| {
            let jwks_requests = Arc::new(AtomicUsize::new(0));
            let accept = tokio::spawn(accept(listener, signer.clone(), jwks_requests.clone()));
            Server {
                url: issuer.clone(),
                jwks_requests,
                accept,
            }
        });
        TestIdentityProvider {
            signer,
            issuer,
            audience: self
                .audience
                .unwrap_or_else(|| DEFAULT_TEST_AUDIENCE.to_owned()),
            server,
        }
    }
}

impl Default for TestIdentityProvider {
    fn default() -> Self {
        Self::new()
    }
}

/// A new Ed25519 private key, from 32 bytes of the operating system's CSPRNG: the PKCS#8 v1
/// wrapping of RFC 8410 §10.3 around the seed, read by either crypto backend.
fn generate_ed25519() -> SigningKey {
    const PKCS8_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PKCS8_PREFIX.to_vec();
    let mut seed = [0u8; 32];
    crate::crypto::fill_random(&mut seed)
        .expect("the operating system's random number generator failed");
    der.extend_from_slice(&seed);
    SigningKey::ed_der(&der).expect("a generated Ed25519 key is valid")
}

fn signer(issuer: &str, key: SigningKey, kid: Option<String>) -> JwtIssuer {
    let mut builder = JwtIssuer::builder()
        .key(key)
        .issuer(issuer)
        // Kept only as long as a test needs it: a rotation shows at the next fetch.
        .documents_max_age(Duration::from_secs(1));
    if let Some(kid) = kid {
        builder = builder.kid(kid);
    }
    builder
        .build()
        .expect("a generated key makes a valid issuer (is a crypto backend feature enabled?)")
}

impl TestIdentityProvider {
    /// A provider that is not served, with the issuer [`DEFAULT_TEST_ISSUER`], for layers
    /// given its keys directly ([`layer`](Self::layer)): `builder().build()`.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A provider served on 127.0.0.1: `builder().serve()`.
    pub async fn serve() -> Self {
        Self::builder().serve().await
    }

    /// Configures a provider: its audience, its first key.
    pub fn builder() -> TestIdentityProviderBuilder {
        TestIdentityProviderBuilder::default()
    }

    /// The `iss` of its tokens: [`DEFAULT_TEST_ISSUER`], or its URL when served.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of its tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The `kid` of the key that signs now (the RFC 7638 thumbprint of its public key).
    pub fn kid(&self) -> String {
        self.signer
            .kid()
            .expect("an asymmetric key always has a kid")
    }

    /// The published keys as a JWKS document: the signing key and those retiring.
    pub fn jwks(&self) -> Value {
        self.signer.jwks()
    }

    /// The published keys, for a layer with static keys.
    pub fn keys(&self) -> Vec<Key> {
        Key::from_jwks_json(&self.jwks().to_string()).expect("the published keys are valid")
    }

    /// A layer builder that trusts this provider: its published keys (as they are now), its
    /// issuer, its audience and the `at+jwt` type of its tokens. Add anything else (a claims
    /// type, the cache, a revocation store) before `build`.
    pub fn layer(&self) -> JwtLayerBuilder<JsonClaims> {
        self.trusted_by(JwtLayer::builder().keys(self.keys()))
    }

    /// Like [`layer`](Self::layer), with `keys` (made from [`remote_keys`](Self::remote_keys))
    /// in place of the keys as they are now: the layer follows rotations.
    pub fn remote_layer(&self, keys: RemoteKeySet) -> JwtLayerBuilder<JsonClaims> {
        self.trusted_by(JwtLayer::builder().remote_keys(keys))
    }

    fn trusted_by(&self, layer: JwtLayerBuilder<JsonClaims>) -> JwtLayerBuilder<JsonClaims> {
        layer
            .issuer(self.issuer.clone())
            .audience(self.audience.clone())
            .typ(ACCESS_TOKEN_TYP)
    }

    /// A key set that finds this provider's keys by OIDC discovery, from its URL. Set its
    /// cooldown and refresh bounds to the test's pace, then `build`.
    ///
    /// # Panics
    ///
    /// When the provider is not served (made with [`new`](Self::new)).
    pub fn remote_keys(&self) -> RemoteKeySetBuilder {
        RemoteKeySet::builder().oidc_issuer(self.url())
    }

    /// Its URL, `http://127.0.0.1:PORT`.
    ///
    /// # Panics
    ///
    /// When the provider is not served (made with [`new`](Self::new)).
    pub fn url(&self) -> &str {
        &self.served().url
    }

    /// How many times its JWKS document was asked for, to check when a verifier fetches.
    ///
    /// # Panics
    ///
    /// When the provider is not served (made with [`new`](Self::new)).
    pub fn jwks_requests(&self) -> usize {
        self.served().jwks_requests.load(Ordering::SeqCst)
    }

    fn served(&self) -> &Server {
        self.server.as_ref().expect(
            "this TestIdentityProvider is not served: make it with TestIdentityProvider::serve",
        )
    }

    /// Signs with a new Ed25519 key from now on, and keeps publishing the one it replaces
    /// until [`retire`](Self::retire). Returns the new key's `kid`.
    pub fn rotate(&self) -> String {
        self.rotate_to(generate_ed25519())
    }

    /// Like [`rotate`](Self::rotate), to the asymmetric `key` given.
    ///
    /// # Panics
    ///
    /// When the key is an HMAC secret, or is refused as an issuer's key.
    pub fn rotate_to(&self, key: SigningKey) -> String {
        assert!(
            !key.is_hmac(),
            "a TestIdentityProvider publishes its keys: not an HMAC secret"
        );
        self.signer
            .rotate(key, None, None)
            .expect("the key is accepted by JwtIssuer::rotate")
            .expect("an asymmetric key always has a kid")
    }

    /// Stops publishing the retiring key `kid`; `false` when no retiring key has it.
    pub fn retire(&self, kid: &str) -> bool {
        self.signer.retire(kid)
    }

    /// Starts a token: by default valid for [`DEFAULT_ACCESS_LIFETIME`] from now, for
    /// [`DEFAULT_TEST_SUBJECT`], with this provider's `iss` and `aud`, a random `jti`, and the
    /// header's `typ` `at+jwt` and `kid`.
    pub fn token(&self) -> TokenRequest<'_> {
        let mut claims = Map::new();
        claims.insert("sub".into(), DEFAULT_TEST_SUBJECT.into());
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        TokenRequest {
            provider: self,
            claims,
            removed: Vec::new(),
            start: Start::Now,
            lifetime: DEFAULT_ACCESS_LIFETIME,
            unknown_key: false,
        }
    }
}

/// Answers the provider's documents until the task is aborted; the connections are the
/// task's own, so they end with it.
async fn accept(listener: TcpListener, signer: JwtIssuer, jwks_requests: Arc<AtomicUsize>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait for some to close rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let (signer, jwks_requests) = (signer.clone(), jwks_requests.clone());
        let answer = hyper::service::service_fn(move |request: Request<Incoming>| {
            let path = request.uri().path();
            let response = if path == JWKS_PATH {
                jwks_requests.fetch_add(1, Ordering::SeqCst);
                Some(signer.jwks_service().call(request))
            } else if path == DISCOVERY_PATH {
                signer
                    .discovery_service()
                    .ok()
                    .map(|mut service| service.call(request))
            } else {
                None
            };
            async move {
                match response {
                    Some(response) => response.await,
                    None => {
                        let mut response = Response::new(axum_core::body::Body::empty());
                        *response.status_mut() = StatusCode::NOT_FOUND;
                        Ok::<_, Infallible>(response)
                    }
                }
            }
        });
        connections.spawn(async move {
            // A client that goes away mid-request is no concern of the test's.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), answer)
                .await;
        });
        // Reap finished connections, so a long test does not accumulate them.
        while connections.try_join_next().is_some() {}
    }
}

/// When a minted token's validity starts.
#[derive(Clone, Copy)]
enum Start {
    Now,
    /// It expired an hour ago.
    Expired,
    /// Its `nbf` is an hour away.
    NotYetValid,
}

/// A token being minted by [`TestIdentityProvider::token`]; [`sign`](Self::sign) ends it.
#[must_use = "a token request mints nothing until `sign` is called"]
pub struct TokenRequest<'a> {
    provider: &'a TestIdentityProvider,
    claims: Map<String, Value>,
    /// Claims left out, registered ones included.
    removed: Vec<String>,
    start: Start,
    lifetime: Duration,
    unknown_key: bool,
}

impl std::fmt::Debug for TokenRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("lifetime", &self.lifetime)
            .field("unknown_key", &self.unknown_key)
            .finish_non_exhaustive()
    }
}

impl TokenRequest<'_> {
    /// The `sub` claim.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// Sets one claim, replacing what was there (a registered claim too: `exp` written here
    /// is kept as written).
    ///
    /// # Panics
    ///
    /// When `value` does not serialize to JSON.
    pub fn claim(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).expect("a claim serializes to JSON");
        self.claims.insert(name.into(), value);
        self
    }

    /// Sets every claim of `claims`, a JSON object, as [`claim`](Self::claim) does.
    ///
    /// # Panics
    ///
    /// When `claims` does not serialize to a JSON object.
    pub fn claims(mut self, claims: impl Serialize) -> Self {
        match serde_json::to_value(claims) {
            Ok(Value::Object(claims)) => self.claims.extend(claims),
            _ => panic!("TokenRequest::claims takes a JSON object"),
        }
        self
    }

    /// Leaves out a claim: one set before, or a registered one the token would get (`exp`,
    /// `iat`, `jti`, `iss`, `aud`, `sub`).
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self.removed.push(name.to_owned());
        self
    }

    /// The `aud` claim, in place of the provider's.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// The `iss` claim, in place of the provider's.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// How long the token is valid from its `iat`.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// A token that expired an hour ago (its `iat` one lifetime before that).
    pub fn expired(mut self) -> Self {
        self.start = Start::Expired;
        self
    }

    /// A token whose `nbf` is an hour from now.
    pub fn not_yet_valid(mut self) -> Self {
        self.start = Start::NotYetValid;
        self
    }

    /// Signs with a key the provider never published, under the `kid` of the one it signs
    /// with: a forgery, refused for its signature.
    pub fn signed_by_unknown_key(mut self) -> Self {
        self.unknown_key = true;
        self
    }

    /// The compact JWS.
    ///
    /// # Panics
    ///
    /// When signing fails, which a generated key does not.
    pub fn sign(self) -> String {
        const HOUR: u64 = 60 * 60;
        let now = clock::unix_now();
        let lifetime = self.lifetime.as_secs();
        let (iat, nbf) = match self.start {
            Start::Now => (now, None),
            Start::Expired => (now.saturating_sub(HOUR + lifetime), None),
            Start::NotYetValid => (now, Some(now + HOUR)),
        };
        let mut claims = Map::new();
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), iat.saturating_add(lifetime).into());
        if let Some(nbf) = nbf {
            claims.insert("nbf".into(), nbf.into());
        }
        let jti = random_base64url::<16>().expect("the operating system's random numbers");
        claims.insert("jti".into(), jti.into());
        claims.extend(self.claims);
        for name in &self.removed {
            claims.remove(name);
        }
        let signer = if self.unknown_key {
            let kid = Some(self.provider.kid());
            signer(&self.provider.issuer, generate_ed25519(), kid)
        } else {
            self.provider.signer.clone()
        };
        signer.sign_claims(&claims).expect("a generated key signs")
    }
}
