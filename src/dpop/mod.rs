//! DPoP proofs (RFC 9449): a client proves, at each request, that it holds the private key a
//! token is bound to.
//!
//! [`DpopVerifier`] checks one proof, in the order of RFC 9449 §4.3: a single `DPoP` header; a
//! compact JWS whose header has `typ` `dpop+jwt`, an asymmetric `alg` of the allow-list and a
//! public `jwk` (no private member); a signature that holds with that `jwk`; `htm` equal to the
//! request's method and `htu` to its URI, both without query and fragment; an `iat` within the
//! window; a `jti` not seen within it; and, with an access token, `ath` equal to the base64url
//! SHA-256 of the token. What it returns, [`DpopProof`], names the key by its RFC 7638
//! thumbprint: the `jkt` a bound token's `cnf` carries.
//!
//! ```
//! use http::Method;
//! use tower_jwt_auth::dpop::{DpopError, DpopVerifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = DpopVerifier::builder().build()?;
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let refused = verifier
//!     .verify("not.a.proof", &Method::GET, "https://api.example.com/orders", None)
//!     .await;
//! assert!(matches!(refused, Err(DpopError::Malformed(_))));
//! # });
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Uri};
use jsonwebtoken::Algorithm;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde::Deserialize;

use crate::BoxFuture;

use crate::clock::Clock;
use crate::crypto::{HmacKey, Sha, Tag, equal, sha256};
use crate::error::{BoxError, ConfigError};
use crate::jws::decode_base64url;
use crate::keys::{Key, crypto_provider, prepare_key};
use crate::request::RequestHead;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_DPOP_REDIS_PREFIX, RedisDpopReplayStore};

/// The request header that carries a proof.
pub const DPOP_HEADER: &str = "dpop";

/// The response header that gives a client the nonce its proofs must carry (RFC 9449 §8).
pub const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// The proof's `typ` (RFC 9449 §4.2).
const PROOF_TYPE: &str = "dpop+jwt";

/// The algorithms a proof may be signed with by default: asymmetric, as RFC 9449 requires.
pub const DEFAULT_DPOP_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::RS256,
];

/// How old a proof's `iat` may be by default.
pub const DEFAULT_DPOP_MAX_AGE: Duration = Duration::from_secs(60);

/// How far in the future a proof's `iat` may be by default (the client's clock running ahead).
pub const DEFAULT_DPOP_MAX_SKEW: Duration = Duration::from_secs(5);

/// How many proofs' `jti` the verifier remembers at most by default, to refuse a replay.
pub const DEFAULT_DPOP_REPLAY_CAPACITY: usize = 100_000;

/// The longest proof accepted, in bytes: a proof with an RSA key of 8,192 bits fits.
const MAX_PROOF_LEN: usize = 8 * 1024;

/// The private members of a JWK (RFC 7518 §6): a proof's key must have none.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused. Every kind is the `invalid_dpop_proof` error of RFC 9449 §7.1,
/// except [`ReplayCacheFull`](Self::ReplayCacheFull), the server's to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// The request has no `DPoP` header.
    Missing,
    /// The request has more than one `DPoP` header.
    Multiple,
    /// Not a compact JWS with a JSON header and claims, or a required claim is missing or of
    /// the wrong type: which part.
    Malformed(&'static str),
    /// The header's `typ` is not `dpop+jwt`.
    WrongType,
    /// The `alg` is symmetric, `none`, or not in the allow-list.
    AlgorithmNotAllowed,
    /// The `jwk` is missing, not a public key of the `alg`'s family, or refused by the key
    /// policy (an RSA key under 2,048 bits, say).
    InvalidKey,
    /// The `jwk` has a private member.
    PrivateKey,
    /// The signature does not hold with the `jwk`.
    InvalidSignature,
    /// `htm` is not the request's method.
    MethodMismatch,
    /// `htu` is not the request's URI.
    UriMismatch,
    /// `iat` is older than the window allows.
    Expired,
    /// `iat` is further in the future than the skew allows.
    IssuedInTheFuture,
    /// A proof with this `jti` was accepted within the window.
    Replayed,
    /// `ath` is missing, or is not the hash of the access token.
    AccessTokenHashMismatch,
    /// The verifier requires a server nonce and the proof has none, or one that is not the
    /// verifier's or has expired: the client must retry with the nonce the answer carries
    /// (`use_dpop_nonce`, RFC 9449 §8).
    NonceRequired,
    /// The verifier cannot remember one more `jti` (every remembered one still in its
    /// window), so it cannot tell a replay: refused rather than accepted unchecked.
    ReplayCacheFull,
    /// The replay store failed or did not answer in time: refused rather than accepted
    /// unchecked.
    ReplayStoreUnavailable,
}

impl DpopError {
    /// Why the proof was refused, in fixed words: what follows `invalid DPoP proof: ` in the
    /// `invalid_dpop_proof` answer's description.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "none in the request",
            Self::Multiple => "more than one in the request",
            Self::Malformed(_) => "malformed",
            Self::WrongType => "typ is not dpop+jwt",
            Self::AlgorithmNotAllowed => "alg not allowed",
            Self::InvalidKey => "jwk is not a usable public key",
            Self::PrivateKey => "jwk has a private member",
            Self::InvalidSignature => "signature invalid",
            Self::MethodMismatch => "htm does not match the request method",
            Self::UriMismatch => "htu does not match the request URI",
            Self::Expired => "iat too old",
            Self::IssuedInTheFuture => "iat in the future",
            Self::Replayed => "jti already used",
            Self::AccessTokenHashMismatch => "ath does not match the access token",
            Self::NonceRequired => "nonce missing or stale",
            Self::ReplayCacheFull => "replay cache full",
            Self::ReplayStoreUnavailable => "replay store unavailable",
        }
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid DPoP proof: {}", self.reason())?;
        if let Self::Malformed(part) = self {
            write!(f, " ({part})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DpopError {}

/// A proof that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopProof {
    thumbprint: String,
    jti: String,
    iat: u64,
    next_nonce: Option<String>,
}

impl DpopProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what a bound token's
    /// `cnf.jkt` must equal, and what an issuer binds a new token to.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`, in whole seconds since the Unix epoch.
    pub fn iat(&self) -> u64 {
        self.iat
    }

    /// The nonce the client should use from now on, when its proof's nonce is about to
    /// expire: what a `DPoP-Nonce` header of the answer carries (the layer sends it).
    pub fn next_nonce(&self) -> Option<&str> {
        self.next_nonce.as_deref()
    }
}

/// Checks DPoP proofs; cheap to clone, and clones share the `jti`s they have seen.
#[derive(Clone)]
pub struct DpopVerifier {
    shared: Arc<Shared>,
}

struct Shared {
    algorithms: Vec<Algorithm>,
    max_age: u64,
    max_skew: u64,
    clock: Clock,
    provider: &'static CryptoProvider,
    replay: Replay,
    nonces: Option<Nonces>,
}

/// Where the `jti`s accepted are remembered.
enum Replay {
    /// In this process: every clone of the verifier shares it.
    Memory { seen: Mutex<Seen>, capacity: usize },
    /// In a store every instance shares.
    Store {
        store: Arc<dyn DpopReplayStore>,
        timeout: Duration,
    },
}

/// Where a [`DpopVerifier`] remembers the proofs it accepted, when the instances of an
/// application must refuse each other's replays: [`RedisDpopReplayStore`] (feature `redis`),
/// or your own.
pub trait DpopReplayStore: Send + Sync + 'static {
    /// Records `id` (the SHA-256 of a proof's key thumbprint and `jti`) for `ttl`, atomically:
    /// `Ok(true)` when it was not recorded yet, `Ok(false)` when it was (a replay). An error
    /// refuses the proof with a 503: a proof is never taken unchecked.
    fn remember<'a>(
        &'a self,
        id: &'a [u8; 32],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BoxError>>;
}

/// Server nonces (RFC 9449 §8) made from a secret and the time, so that every instance
/// given the secret makes and accepts the same ones with no state shared: a nonce names its
/// period and carries an HMAC of it. One is accepted during its period and the next.
struct Nonces {
    key: HmacKey,
    lifetime: u64,
}

/// The bytes of a nonce's HMAC kept in it: 128 bits.
const NONCE_TAG_LEN: usize = 16;

impl Nonces {
    fn tag(&self, period: u64) -> Tag {
        self.key
            .sign(&[b"tower-jwt-auth DPoP nonce\0", &period.to_be_bytes()])
    }

    fn at(&self, now: u64) -> String {
        let period = now / self.lifetime;
        let mut bytes = period.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.tag(period).as_ref()[..NONCE_TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` is one of ours still accepted at `now`, and if so whether it is from
    /// the previous period (the client should move on to the current one).
    fn check(&self, nonce: &str, now: u64) -> Option<bool> {
        let bytes = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let (period, tag) = bytes.split_at_checked(8)?;
        if tag.len() != NONCE_TAG_LEN {
            return None;
        }
        let period = u64::from_be_bytes(period.try_into().ok()?);
        let current = now / self.lifetime;
        if period != current && period.checked_add(1) != Some(current) {
            return None;
        }
        if !equal(&self.tag(period).as_ref()[..NONCE_TAG_LEN], tag) {
            return None;
        }
        Some(period != current)
    }
}

/// The `jti`s accepted, by the SHA-256 of the key's thumbprint and the `jti`, with when each
/// leaves the window.
#[derive(Default)]
struct Seen {
    until: HashMap<[u8; 32], u64, foldhash::fast::RandomState>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.shared.algorithms)
            .field("max_age", &self.shared.max_age)
            .field("max_skew", &self.shared.max_skew)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DpopVerifier`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `build`"]
pub struct DpopVerifierBuilder {
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    max_skew: Duration,
    clock: Clock,
    replay_capacity: usize,
    /// The nonce secret and period; never in `Debug`.
    nonces: Option<(Vec<u8>, Duration)>,
    replay_store: Option<Arc<dyn DpopReplayStore>>,
    replay_timeout: Duration,
}

impl fmt::Debug for DpopVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifierBuilder")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("max_skew", &self.max_skew)
            .field("replay_capacity", &self.replay_capacity)
            .finish_non_exhaustive()
    }
}

impl DpopVerifierBuilder {
    /// The algorithms a proof may use. Default: [`DEFAULT_DPOP_ALGORITHMS`]. An HMAC
    /// algorithm is refused by [`build`](Self::build): a proof proves possession of a private
    /// key.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old a proof may be. Default: [`DEFAULT_DPOP_MAX_AGE`].
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far in the future a proof's `iat` may be. Default: [`DEFAULT_DPOP_MAX_SKEW`].
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// How many `jti`s to remember at most. Default: [`DEFAULT_DPOP_REPLAY_CAPACITY`]. When
    /// every remembered one is still within the window, a new proof is refused
    /// ([`DpopError::ReplayCacheFull`]) rather than accepted without a replay check.
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Remembers accepted proofs in `store` instead of this process's memory, so that every
    /// instance sharing it refuses a proof another one accepted (a [`RedisDpopReplayStore`],
    /// say). Checks then wait for the store, at most [`replay_timeout`](Self::replay_timeout);
    /// a store that fails or is late refuses the proof (503). Default: the memory.
    pub fn replay_store(mut self, store: impl DpopReplayStore) -> Self {
        self.replay_store = Some(Arc::new(store));
        self
    }

    /// How long a replay check waits for the [replay store](Self::replay_store). Default:
    /// [`DEFAULT_BACKEND_TIMEOUT`](crate::layer::DEFAULT_BACKEND_TIMEOUT).
    pub fn replay_timeout(mut self, timeout: Duration) -> Self {
        self.replay_timeout = timeout;
        self
    }

    /// The clock, in whole seconds since the Unix epoch (tests). Default: the system's.
    pub fn clock(mut self, now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::from_fn(now);
        self
    }

    /// Requires a server nonce in every proof (RFC 9449 §8): a proof without one, or with one
    /// that is not the current or the previous period's, is refused with `use_dpop_nonce`
    /// and the answer's `DPoP-Nonce` header gives the current one. Nonces are an HMAC of
    /// their period under `secret` (32 bytes at least), so instances given the same secret
    /// share them without talking to each other; a period lasts `lifetime`. Default: no
    /// nonces.
    pub fn nonces(mut self, secret: &[u8], lifetime: Duration) -> Self {
        self.nonces = Some((secret.to_vec(), lifetime));
        self
    }

    /// The verifier. Refuses an empty or symmetric allow-list, a zero window and a zero
    /// replay capacity.
    pub fn build(self) -> Result<DpopVerifier, ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if let Some(symmetric) = self
            .algorithms
            .iter()
            .find(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::InvalidDpop(format!(
                "{symmetric:?} cannot sign a DPoP proof: a proof needs an asymmetric key"
            )));
        }
        let nonces = match &self.nonces {
            None => None,
            Some((secret, lifetime)) => {
                if secret.len() < 32 || lifetime.as_secs() == 0 {
                    return Err(ConfigError::InvalidDpop(
                        "DPoP nonces need a secret of 32 bytes at least and a lifetime of a \
                         second at least"
                            .to_owned(),
                    ));
                }
                let key = HmacKey::new(Sha::Sha256, secret);
                Some(Nonces {
                    key,
                    lifetime: lifetime.as_secs(),
                })
            }
        };
        if self.max_age.as_secs() == 0 || self.replay_capacity == 0 || self.replay_timeout.is_zero()
        {
            return Err(ConfigError::InvalidDpop(
                "a DPoP window of under a second, or no room to remember a jti, cannot work"
                    .to_owned(),
            ));
        }
        Ok(DpopVerifier {
            shared: Arc::new(Shared {
                algorithms: self.algorithms,
                max_age: self.max_age.as_secs(),
                max_skew: self.max_skew.as_secs(),
                clock: self.clock,
                provider: crypto_provider(),
                replay: match self.replay_store {
                    Some(store) => Replay::Store {
                        store,
                        timeout: self.replay_timeout,
                    },
                    None => Replay::Memory {
                        seen: Mutex::new(Seen::default()),
                        capacity: self.replay_capacity,
                    },
                },
                nonces,
            }),
        })
    }
}

/// Where the URI a proof's `htu` must match comes from: the URI the client addressed, which a
/// server behind a proxy does not see as such.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestOrigin {
    /// The request's own: its URI's scheme when it has one (an HTTP/2 request's), `http`
    /// otherwise (a plain HTTP/1 listener), with its `Host` header (or its URI's authority).
    /// The default.
    #[default]
    Direct,
    /// A fixed origin, the address clients use, for a server behind a proxy or load balancer:
    /// made by [`RequestOrigin::fixed`].
    Fixed(FixedOrigin),
    /// The scheme and host in `X-Forwarded-Proto` and `X-Forwarded-Host` (the first value of
    /// each, the one the client-facing proxy set), falling back to [`Direct`](Self::Direct)'s
    /// for a missing one. Only behind a proxy that sets both and drops what clients send:
    /// anyone else could name any origin.
    TrustForwarded,
}

/// The origin of [`RequestOrigin::Fixed`], checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedOrigin(String);

impl RequestOrigin {
    /// A fixed origin, `https://api.example.com`: a scheme (`https`, or `http` on a loopback
    /// host) and an authority, nothing after them.
    pub fn fixed(origin: &str) -> Result<Self, ConfigError> {
        let invalid =
            |why: &str| ConfigError::InvalidDpop(format!("the DPoP origin {origin:?}: {why}"));
        let uri = crate::resource::https_url(origin).map_err(invalid)?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(invalid("not an absolute URL"));
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("an origin has no path or query"));
        }
        Ok(Self::Fixed(FixedOrigin(format!(
            "{scheme}://{}",
            authority.as_str().to_ascii_lowercase()
        ))))
    }

    /// The absolute URI of `request` as its client addressed it, without query: what a
    /// proof's `htu` is compared with. `None` when it cannot be told (no host, two `Host`
    /// headers, a header that is not text).
    pub fn target_uri(&self, request: &RequestHead<'_>) -> Option<String> {
        let path = request.uri().path();
        let path = if path.is_empty() { "/" } else { path };
        let origin = match self {
            Self::Fixed(FixedOrigin(origin)) => origin.clone(),
            Self::Direct => direct_origin(request)?,
            Self::TrustForwarded => {
                let headers = request.headers();
                let first = |name: &str| -> Option<Option<String>> {
                    let mut values = headers.get_all(name).iter();
                    let Some(value) = values.next() else {
                        return Some(None);
                    };
                    let first = value.to_str().ok()?.split(',').next()?.trim();
                    (!first.is_empty()).then(|| Some(first.to_ascii_lowercase()))
                };
                let direct = direct_origin(request);
                let (scheme, host) = match (first("x-forwarded-proto")?, first("x-forwarded-host")?)
                {
                    (Some(scheme), Some(host)) => (scheme, host),
                    (scheme, host) => {
                        let direct = direct?;
                        let (direct_scheme, direct_host) = direct.split_once("://")?;
                        (
                            scheme.unwrap_or_else(|| direct_scheme.to_owned()),
                            host.unwrap_or_else(|| direct_host.to_owned()),
                        )
                    }
                };
                if !matches!(scheme.as_str(), "http" | "https") {
                    return None;
                }
                format!("{scheme}://{host}")
            }
        };
        Some(format!("{origin}{path}"))
    }
}

/// `scheme://host` of a request from its URI and its one `Host` header.
fn direct_origin(request: &RequestHead<'_>) -> Option<String> {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("http");
    let mut hosts = request.headers().get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok()?.to_owned(),
        (None, None) => uri.authority()?.as_str().to_owned(),
        _ => return None,
    };
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

/// The proof's JOSE header.
#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The proof's claims (RFC 9449 §4.2).
#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: f64,
    ath: Option<String>,
    nonce: Option<String>,
}

impl DpopVerifier {
    /// A builder with the defaults.
    pub fn builder() -> DpopVerifierBuilder {
        DpopVerifierBuilder {
            algorithms: DEFAULT_DPOP_ALGORITHMS.to_vec(),
            max_age: DEFAULT_DPOP_MAX_AGE,
            max_skew: DEFAULT_DPOP_MAX_SKEW,
            clock: Clock::default(),
            replay_capacity: DEFAULT_DPOP_REPLAY_CAPACITY,
            nonces: None,
            replay_store: None,
            replay_timeout: crate::checks::DEFAULT_BACKEND_TIMEOUT,
        }
    }

    /// The nonce proofs must carry now, when the verifier requires nonces (see
    /// [`DpopVerifierBuilder::nonces`]): what a token endpoint, or any answer, sends in a
    /// `DPoP-Nonce` header.
    pub fn nonce(&self) -> Option<String> {
        let nonces = self.shared.nonces.as_ref()?;
        Some(nonces.at(self.shared.clock.now()))
    }

    /// The algorithms proofs may use, for a challenge's `algs`.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.shared.algorithms
    }

    /// The request's one proof: its `DPoP` header, when there is exactly one.
    pub fn proof_in(headers: &HeaderMap) -> Result<&str, DpopError> {
        let mut proofs = headers.get_all(DPOP_HEADER).iter();
        let proof = proofs.next().ok_or(DpopError::Missing)?;
        if proofs.next().is_some() {
            return Err(DpopError::Multiple);
        }
        proof
            .to_str()
            .map_err(|_| DpopError::Malformed("the header is not visible ASCII"))
    }

    /// Checks `proof` for a request of `method` to `uri` (its absolute URI as the client
    /// addressed it, `https://api.example.com/orders?page=2`; query and fragment are ignored),
    /// presenting `access_token` (none at a token endpoint). A proof that passes is remembered
    /// for the window, in memory or in the [replay store](DpopVerifierBuilder::replay_store):
    /// the same `jti` is refused after. With the memory, the future is ready at its first
    /// poll.
    pub async fn verify(
        &self,
        proof: &str,
        method: &Method,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<DpopProof, DpopError> {
        let checked = self.check(proof, method, uri, access_token)?;
        self.remember(&checked).await?;
        Ok(checked.proof)
    }

    /// Checks the proof of a request to a token endpoint (a login, a refresh), where there is
    /// no access token yet: `None` when the request has no `DPoP` header (the client wants
    /// bearer tokens), the proof when it has a valid one, and the refusal otherwise, which
    /// the endpoint must answer (a [`SessionError`](crate::error::SessionError) converts from
    /// it: 400 `invalid_dpop_proof`) rather than issue an unbound token. `origin` rebuilds the
    /// URI the proof's `htu` must name.
    pub async fn verify_request(
        &self,
        request: &RequestHead<'_>,
        origin: &RequestOrigin,
    ) -> Result<Option<DpopProof>, DpopError> {
        if !request.headers().contains_key(DPOP_HEADER) {
            return Ok(None);
        }
        let proof = Self::proof_in(request.headers())?;
        let uri = origin.target_uri(request).ok_or(DpopError::UriMismatch)?;
        self.verify(proof, request.method(), &uri, None)
            .await
            .map(Some)
    }

    /// Every check of [`verify`](Self::verify) but the replay check, which
    /// [`remember_now`](Self::remember_now) or [`remember`](Self::remember) makes.
    pub(crate) fn check(
        &self,
        proof: &str,
        method: &Method,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<CheckedProof, DpopError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(DpopError::Malformed("longer than 8 KiB"));
        }
        let mut parts = proof.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed("not three base64url segments"));
        };
        let header: ProofHeader = json_segment(header, "the header")?;
        if header.typ.as_deref() != Some(PROOF_TYPE) {
            return Err(DpopError::WrongType);
        }
        let algorithm = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|alg| self.shared.algorithms.contains(alg))
            .ok_or(DpopError::AlgorithmNotAllowed)?;
        let jwk = header.jwk.ok_or(DpopError::InvalidKey)?;
        if PRIVATE_MEMBERS
            .iter()
            .any(|member| jwk.contains_key(*member))
        {
            return Err(DpopError::PrivateKey);
        }
        let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(jwk))
            .map_err(|_| DpopError::InvalidKey)?;
        let key = Key::from_jwk(&jwk).map_err(|_| DpopError::InvalidKey)?;
        let key = prepare_key(key, Some(&[algorithm]), self.shared.provider)
            .map_err(|_| DpopError::InvalidKey)?;
        let signature = decode_base64url(signature)
            .map_err(|_| DpopError::Malformed("the signature is not base64url"))?;
        let message = &proof[..header_and_claims_len(proof)];
        if !key.verifies(
            algorithm,
            message.as_bytes(),
            &signature,
            self.shared.provider,
        ) {
            return Err(DpopError::InvalidSignature);
        }
        let claims: ProofClaims = json_segment(claims, "the claims")?;
        if claims.htm != method.as_str() {
            return Err(DpopError::MethodMismatch);
        }
        if !same_target(&claims.htu, uri) {
            return Err(DpopError::UriMismatch);
        }
        let now = self.shared.clock.now();
        let next_nonce = match &self.shared.nonces {
            None => None,
            Some(nonces) => {
                let previous = claims
                    .nonce
                    .as_deref()
                    .and_then(|nonce| nonces.check(nonce, now))
                    .ok_or(DpopError::NonceRequired)?;
                previous.then(|| nonces.at(now))
            }
        };
        if !claims.iat.is_finite() || claims.iat < 0.0 {
            return Err(DpopError::Malformed("iat is not a NumericDate"));
        }
        // Whole seconds, rounded towards the stricter side of each bound.
        if (claims.iat.ceil() as u64).saturating_add(self.shared.max_age) < now {
            return Err(DpopError::Expired);
        }
        if claims.iat.floor() as u64 > now.saturating_add(self.shared.max_skew) {
            return Err(DpopError::IssuedInTheFuture);
        }
        if let Some(token) = access_token {
            let expected = URL_SAFE_NO_PAD.encode(sha256(&[token.as_bytes()]));
            if claims.ath.as_deref() != Some(expected.as_str()) {
                return Err(DpopError::AccessTokenHashMismatch);
            }
        }
        let thumbprint = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| DpopError::InvalidKey)?;
        // Remembered until the proof could no longer pass the age check.
        let until = (claims.iat.ceil() as u64)
            .max(now)
            .saturating_add(self.shared.max_age)
            .saturating_add(1);
        Ok(CheckedProof {
            replay_id: sha256(&[thumbprint.as_bytes(), &[0], claims.jti.as_bytes()]),
            now,
            until,
            proof: DpopProof {
                thumbprint,
                jti: claims.jti,
                iat: claims.iat.floor() as u64,
                next_nonce,
            },
        })
    }

    /// The replay check of a checked proof, when it is answered without waiting (the memory);
    /// `None` with a replay store.
    pub(crate) fn remember_now(&self, checked: &CheckedProof) -> Option<Result<(), DpopError>> {
        match &self.shared.replay {
            Replay::Memory { seen, capacity } => Some(remember_in(seen, *capacity, checked)),
            Replay::Store { .. } => None,
        }
    }

    /// The replay check of a checked proof: the `jti` is recorded, or it was already.
    pub(crate) async fn remember(&self, checked: &CheckedProof) -> Result<(), DpopError> {
        let (store, timeout) = match &self.shared.replay {
            Replay::Memory { seen, capacity } => return remember_in(seen, *capacity, checked),
            Replay::Store { store, timeout } => (store, *timeout),
        };
        let ttl = Duration::from_secs(checked.until.saturating_sub(checked.now).max(1));
        let answer = tokio::time::timeout(timeout, store.remember(&checked.replay_id, ttl)).await;
        match answer {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(DpopError::Replayed),
            Ok(Err(cause)) => {
                tracing::error!(target: "tower_jwt_auth", %cause, "DPoP replay store failed");
                Err(DpopError::ReplayStoreUnavailable)
            }
            Err(_) => {
                tracing::error!(
                    target: "tower_jwt_auth",
                    timeout_ms = timeout.as_millis() as u64,
                    "DPoP replay store timed out"
                );
                Err(DpopError::ReplayStoreUnavailable)
            }
        }
    }
}

/// A proof that passed every check but the replay check.
pub(crate) struct CheckedProof {
    pub(crate) proof: DpopProof,
    /// The SHA-256 of the key's thumbprint and the `jti`: what the replay check records.
    replay_id: [u8; 32],
    now: u64,
    /// When the proof can no longer pass the age check.
    until: u64,
}

/// Records a checked proof in the memory; a `jti` already there is a replay.
fn remember_in(
    seen: &Mutex<Seen>,
    capacity: usize,
    checked: &CheckedProof,
) -> Result<(), DpopError> {
    let now = checked.now;
    // Nothing panics while the lock is held: a poisoned one holds consistent state.
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    if seen
        .until
        .get(&checked.replay_id)
        .is_some_and(|&held| held > now)
    {
        return Err(DpopError::Replayed);
    }
    if seen.until.len() >= capacity {
        seen.until.retain(|_, held| *held > now);
        if seen.until.len() >= capacity {
            tracing::error!(
                target: "tower_jwt_auth",
                capacity,
                "DPoP replay cache full: proofs are refused until some leave the window; \
                 raise replay_capacity"
            );
            return Err(DpopError::ReplayCacheFull);
        }
    }
    seen.until.insert(checked.replay_id, checked.until);
    Ok(())
}

/// The length of `header.claims` in a proof that has three segments.
fn header_and_claims_len(proof: &str) -> usize {
    proof.rfind('.').unwrap_or(proof.len())
}

fn json_segment<T: serde::de::DeserializeOwned>(
    segment: &str,
    what: &'static str,
) -> Result<T, DpopError> {
    let bytes = decode_base64url(segment).map_err(|_| DpopError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed(what))
}

/// Whether `htu` names the same target as `uri`: scheme and host compared without case, a
/// default port the same as none, the path exactly. The request's query and fragment are
/// ignored; an `htu` that has either is refused, as RFC 9449 §4.2 leaves them out.
fn same_target(htu: &str, uri: &str) -> bool {
    if htu.contains(['?', '#']) {
        return false;
    }
    let target = |text: &str| {
        let text = text.split(['?', '#']).next().unwrap_or_default();
        let uri = Uri::try_from(text).ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let port = match (uri.port_u16(), scheme.as_str()) {
            (Some(port), _) => port,
            (None, "https") => 443,
            (None, "http") => 80,
            (None, _) => return None,
        };
        let path = match uri.path() {
            "" => "/".to_owned(),
            path => path.to_owned(),
        };
        Some((scheme, host, port, path))
    };
    match (target(htu), target(uri)) {
        (Some(proof), Some(request)) => proof == request,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_ignores_query_fragment_case_and_default_ports() {
        let uri = "https://api.example.com/orders?page=2";
        for htu in [
            "https://api.example.com/orders",
            "https://API.example.com/orders",
            "HTTPS://api.example.com:443/orders",
        ] {
            assert!(same_target(htu, uri), "{htu}");
        }
        assert!(same_target(
            "https://api.example.com/orders",
            "https://api.example.com/orders#top"
        ));
        for htu in [
            "https://api.example.com/orders/",
            "https://api.example.com/Orders",
            "http://api.example.com/orders",
            "https://api.example.com:8443/orders",
            "https://other.example.com/orders",
            "https://api.example.com/orders?page=2",
            "https://api.example.com/orders#top",
            "/orders",
            "",
        ] {
            assert!(!same_target(htu, uri), "{htu}");
        }
        assert!(same_target(
            "http://127.0.0.1:3000/",
            "http://127.0.0.1:3000"
        ));
    }

    fn head(uri: &str, headers: &[(&str, &str)]) -> (Method, Uri, HeaderMap) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        (Method::GET, uri.parse().unwrap(), map)
    }

    fn target(origin: &RequestOrigin, uri: &str, headers: &[(&str, &str)]) -> Option<String> {
        let (method, uri, headers) = head(uri, headers);
        origin.target_uri(&RequestHead::new(&method, &uri, &headers))
    }

    #[test]
    fn the_target_uri_is_rebuilt_from_the_request_or_the_configured_origin() {
        let direct = RequestOrigin::Direct;
        let host = [("host", "api.example.com:8080")];
        assert_eq!(
            target(&direct, "/orders?page=2", &host).as_deref(),
            Some("http://api.example.com:8080/orders")
        );
        assert_eq!(
            target(&direct, "https://api.example.com/orders", &[]).as_deref(),
            Some("https://api.example.com/orders")
        );
        assert_eq!(target(&direct, "/orders", &[]), None);
        let two_hosts = [("host", "a.example.com"), ("host", "b.example.com")];
        assert_eq!(target(&direct, "/orders", &two_hosts), None);
        assert_eq!(target(&direct, "/", &[("host", "evil/path")]), None);

        let fixed = RequestOrigin::fixed("https://api.example.com/").unwrap();
        assert_eq!(
            target(&fixed, "/orders", &host).as_deref(),
            Some("https://api.example.com/orders")
        );

        let forwarded = [
            ("host", "10.0.0.7:3000"),
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "API.example.com"),
        ];
        assert_eq!(
            target(&RequestOrigin::TrustForwarded, "/orders", &forwarded).as_deref(),
            Some("https://api.example.com/orders")
        );
        // Not trusted unless configured.
        assert_eq!(
            target(&direct, "/orders", &forwarded).as_deref(),
            Some("http://10.0.0.7:3000/orders")
        );
        // One of the two missing: the request's own for it.
        let proto_only = [("host", "10.0.0.7:3000"), ("x-forwarded-proto", "https")];
        assert_eq!(
            target(&RequestOrigin::TrustForwarded, "/orders", &proto_only).as_deref(),
            Some("https://10.0.0.7:3000/orders")
        );
        let odd_scheme = [("host", "a"), ("x-forwarded-proto", "ftp")];
        assert_eq!(
            target(&RequestOrigin::TrustForwarded, "/", &odd_scheme),
            None
        );
    }

    #[test]
    fn a_fixed_origin_is_a_scheme_and_an_authority() {
        for origin in [
            "api.example.com",
            "http://api.example.com",
            "https://api.example.com/v1",
            "https://api.example.com?x=1",
            "/",
        ] {
            assert!(RequestOrigin::fixed(origin).is_err(), "{origin}");
        }
        for origin in ["https://API.example.com", "http://127.0.0.1:3000/"] {
            assert!(RequestOrigin::fixed(origin).is_ok(), "{origin}");
        }
    }

    #[test]
    fn a_symmetric_or_empty_allow_list_and_a_zero_window_are_refused() {
        for builder in [
            DpopVerifier::builder().algorithms([Algorithm::HS256]),
            DpopVerifier::builder().algorithms([]),
            DpopVerifier::builder().max_age(Duration::from_millis(500)),
            DpopVerifier::builder().replay_capacity(0),
        ] {
            assert!(builder.build().is_err());
        }
    }
}
