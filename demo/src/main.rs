//! The demo API and a small browser page: `cargo run -p tower-jwt-auth-demo`, then open
//! <http://127.0.0.1:3000/>.
//!
//! Listens on 127.0.0.1:3000 (`BIND` overrides). The layer is configured from the `JWT_*`
//! variables through [`EnvConfig::from_env`] (`JWT_SECRET`, `JWT_PUBLIC_KEY`, `JWT_JWKS_URL`,
//! `JWT_OIDC_ISSUER`, `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY`,
//! `JWT_COOKIE_NAME`, …). With none of the four key variables set, it uses a random secret
//! (tokens then die with the process). The issuer and audience default to
//! `tower-jwt-auth-demo` and `demo-api`. Every layer requires the RFC 9068 header
//! `typ: at+jwt`, so an ID token signed by the same key is no access token here.
//!
//! A [`JwtIssuer`] signs HS256 access tokens (or the first HMAC algorithm of `JWT_ALGORITHMS`)
//! with the secret, and [`Sessions`] pairs them with rotating refresh tokens. With a public key
//! or a JWKS the demo holds no signing key: login and refresh then answer 501
//! `login_unavailable`, and tokens must come from the key's owner (your identity provider).
//!
//! With `JWT_SIGNING_KEY` (a P-256 or Ed25519 private key as PEM text or a file path, or
//! `generate` for an Ed25519 key made for the run) in place of the four key variables, the demo
//! signs with that key (its RFC 7638 thumbprint as `kid`), publishes `/.well-known/jwks.json`
//! (and `/.well-known/openid-configuration` when `JWT_ISSUER` is a URL), verifies through its
//! own JWKS, and lets admins rotate the key (`POST /admin/rotate-key`: a new Ed25519 key signs,
//! the old one stays published) and retire an old one (`DELETE /admin/keys/{kid}`). Another
//! instance trusts it with `JWT_OIDC_ISSUER=<its JWT_ISSUER>`.
//!
//! It describes itself as an RFC 9728 protected resource at
//! `/.well-known/oauth-protected-resource` (its scopes, how it takes a token, its issuer when
//! that is a URL), and every refusal's challenge points there (`resource_metadata`). The
//! resource identifier is `RESOURCE_URL`, or the address it listens on.
//!
//! It takes DPoP-bound tokens (RFC 9449) as well as bearer tokens: a login or refresh request
//! that carries a `DPoP` proof gets a pair bound to the proof's key (`"token_type": "DPoP"`,
//! and no session cookie, which would be a bearer credential of the same login), an invalid
//! proof gets 400 `invalid_dpop_proof`, and the protected routes take `Authorization: DPoP`
//! with a fresh proof. Proofs name the URL clients use: `RESOURCE_URL`'s origin when it is set,
//! else the request's `Host`. With `REDIS_URL`, the proofs seen are remembered in Redis, so
//! several instances refuse each other's replays.
//!
//! The users: `alice` / `alice-password`, `admin` / `admin-password`, and `carol` /
//! `carol-password`, whose account is inactive (403 `inactive_user`).
//!
//! ```text
//! # Log in: a token pair in the body, and the session cookies (auth, XSRF-TOKEN) in the jar.
//! curl -s -c jar localhost:3000/auth/login -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"alice-password"}'
//! curl -s localhost:3000/auth/me -H "authorization: Bearer $TOKEN"
//! curl -s localhost:3000/public/hello
//! curl -s localhost:3000/load/auth -H "authorization: Bearer $TOKEN"   # signature and claims only
//! curl -s localhost:3000/api/users -H "authorization: Bearer $TOKEN"   # scope users:read
//! curl -s localhost:3000/admin -H "authorization: Bearer $TOKEN"       # role admin: 403 for alice
//! # The cookie session: unsafe methods need the XSRF-TOKEN cookie's value in X-CSRF-Token.
//! curl -s -b jar localhost:3000/web/me
//! curl -s -b jar localhost:3000/web/note -H 'content-type: application/json' \
//!      -H "x-csrf-token: $(awk '$6 == "XSRF-TOKEN" { print $7 }' jar)" -d '{"text":"hello"}'
//! # A new pair for the refresh token; presenting a used one again ends the whole login.
//! curl -s localhost:3000/auth/refresh -H 'content-type: application/json' \
//!      -d "{\"refresh_token\":\"$REFRESH\"}"
//! # Revokes the access token and the refresh token's login, and clears the cookies.
//! curl -s -X POST localhost:3000/auth/logout -H "authorization: Bearer $TOKEN" \
//!      -H 'content-type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"
//! # Ends every login of the user: all their refresh tokens, every access token issued so far.
//! curl -s -X POST localhost:3000/auth/logout-all -H "authorization: Bearer $TOKEN"
//! ```
//!
//! Revocations and refresh tokens live in memory, or in Redis when `REDIS_URL` is set and the
//! demo is built with the `redis` feature (`cargo run -p tower-jwt-auth-demo --features redis`);
//! several instances then share them (log in on one, refresh on another, log out on a third),
//! each checking revocations against a copy in its memory that Redis keeps current. A Redis
//! Cluster works the same way: `REDIS_CLUSTER_NODES`, comma-separated `redis://` URLs of its
//! nodes. Either variable set where it cannot be honoured (both, or a build without `redis`)
//! stops the start.
//! The memory stores' bounds come from `REVOCATION_CAPACITY` (100000), `REVOCATIONS_PER_SUBJECT`
//! (16), `REFRESH_CAPACITY` (100000) and `REFRESH_TOKENS_PER_SUBJECT` (1000): with small values,
//! a flood of logins and logouts shows within seconds that no revocation is ever dropped (a full
//! store answers the logout 503 instead).

mod openapi;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use openapi::ApiDoc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tower_jwt_auth::{
    Algorithm, Claims, CurrentUser, RequireRoles, RequireScope, TokenSource,
    claims::NumericDate,
    dpop::{DpopVerifier, RequestOrigin},
    env::{EnvConfig, EnvError},
    error::{RequestHead, SessionError},
    guard::{ClaimPath, Grants, scope_list_contains},
    issuer::{DISCOVERY_PATH, JWKS_PATH, JwtIssuer, SigningKey},
    layer::{DpopMode, JwtLayerBuilder},
    refresh::{
        DEFAULT_REFRESH_CAPACITY, DEFAULT_REFRESH_TOKENS_PER_SUBJECT, MemoryRefreshStore,
        RefreshStore, Sessions,
    },
    resource::ProtectedResourceMetadata,
    revocation::{
        DEFAULT_REVOCATION_CAPACITY, DEFAULT_REVOCATIONS_PER_SUBJECT, MemoryRevocationStore,
        RevocationStore, Revoker, TokenFacts,
    },
    session::{ClearSession, SessionCookie, SetSession},
    source::DEFAULT_COOKIE_NAME,
};

const ISSUER: &str = "tower-jwt-auth-demo";
const AUDIENCE: &str = "demo-api";

/// The page served at `/`: a login form, the current user, a note and a logout button.
const INDEX_PAGE: &str = include_str!("../assets/index.html");
const FAVICON: &str = include_str!("../assets/favicon.svg");

/// The longest note `/web/note` keeps, in characters.
const MAX_NOTE_CHARS: usize = 1000;

/// What the demo's access tokens carry.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    username: String,
    roles: Vec<String>,
    scope: String,
    // RFC 7519 allows fractional NumericDates; a `u64` would refuse them.
    iat: NumericDate,
    exp: NumericDate,
    jti: String,
    iss: String,
    aud: String,
}

/// Lets the guards read roles and scopes straight from the typed claims.
impl Grants for AccessClaims {
    fn has_role(&self, _path: &ClaimPath, role: &str) -> bool {
        self.roles.iter().any(|granted| granted == role)
    }

    fn has_scope(&self, scope: &str) -> bool {
        scope_list_contains(&self.scope, scope)
    }
}

struct User {
    username: &'static str,
    password: &'static str,
    roles: &'static [&'static str],
    scope: &'static str,
    /// An inactive account has the right password but may not log in or refresh.
    active: bool,
}

impl User {
    /// The claims of this user's access tokens and session cookie; the issuer adds `iat`,
    /// `exp`, `jti`, `iss` and `aud`.
    fn claims(&self) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("sub".into(), self.username.into());
        claims.insert("username".into(), self.username.into());
        claims.insert("roles".into(), self.roles.into());
        claims.insert("scope".into(), self.scope.into());
        claims
    }
}

const USERS: &[User] = &[
    User {
        username: "alice",
        password: "alice-password",
        roles: &["user"],
        scope: "users:read",
        active: true,
    },
    User {
        username: "admin",
        password: "admin-password",
        roles: &["admin"],
        scope: "users:read users:write",
        active: true,
    },
    User {
        username: "carol",
        password: "carol-password",
        roles: &["user"],
        scope: "users:read",
        active: false,
    },
];

struct AppState {
    /// What signs the demo's tokens: `None` when the key source is a public key or a JWKS.
    issuer: Option<JwtIssuer>,
    /// `None` when the key source is a public key or a JWKS: the demo cannot sign then.
    sessions: Option<Sessions>,
    directory: Directory,
    /// `/web/note`: one note per user.
    notes: Mutex<HashMap<String, String>>,
    /// Checks the DPoP proofs of logins and refreshes, and of the protected routes.
    dpop: Dpop,
}

/// DPoP as the demo checks it: the verifier (its replay memory shared by every route) and
/// where the URL a proof names comes from.
#[derive(Clone)]
struct Dpop {
    verifier: DpopVerifier,
    origin: RequestOrigin,
}

impl Dpop {
    /// Proofs name `RESOURCE_URL`'s origin when it is set (behind a proxy, the request's own
    /// `Host` is not what clients use), else the request's; they are remembered in the Redis
    /// of `REDIS_URL`, else in memory.
    fn new(
        resource_url: Option<&str>,
        #[cfg(feature = "redis")] replays: Option<tower_jwt_auth::dpop::RedisDpopReplayStore>,
        #[cfg(not(feature = "redis"))] replays: Option<std::convert::Infallible>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let origin = match resource_url {
            Some(url) => {
                let uri: axum::http::Uri = url
                    .parse()
                    .map_err(|error| format!("RESOURCE_URL={url:?} is not a URL: {error}"))?;
                let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                    return Err(format!("RESOURCE_URL={url:?} is not an absolute URL").into());
                };
                RequestOrigin::fixed(&format!("{scheme}://{authority}"))?
            }
            None => RequestOrigin::Direct,
        };
        let verifier = DpopVerifier::builder();
        #[cfg(feature = "redis")]
        let verifier = match replays {
            Some(store) => verifier.replay_store(store),
            None => verifier,
        };
        #[cfg(not(feature = "redis"))]
        let _ = replays;
        Ok(Self {
            verifier: verifier.build()?,
            origin,
        })
    }

    /// The proof of a login or refresh request: none without a `DPoP` header.
    async fn of(
        &self,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
    ) -> Result<Option<tower_jwt_auth::dpop::DpopProof>, SessionError> {
        let head = RequestHead::new(method, uri, headers);
        Ok(self.verifier.verify_request(&head, &self.origin).await?)
    }
}

/// The "users" resource of `/api/users`, and who the user lookup finds: a token whose user was
/// deleted stops working, and so does its refresh token. Inactive users are not in it.
type Directory = Arc<Mutex<Vec<String>>>;

/// What the user lookup puts into requests.
#[derive(Clone, Debug, Serialize)]
struct DirectoryUser {
    username: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `main`'s own error would be shown with `Debug`: the message instead.
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_jwt_auth=debug".into()),
        )
        .init();

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let addr: SocketAddr = bind.parse().map_err(|error| {
        format!("BIND={bind:?} is not an address and port such as 127.0.0.1:3000: {error}")
    })?;
    // Bound first: with an asymmetric signing key, the demo verifies through its own JWKS,
    // whose URL has the port.
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|error| {
        format!("cannot listen on {addr}: {error}; set BIND to another address and port")
    })?;
    let local = listener.local_addr()?;
    let signing_key = match std::env::var("JWT_SIGNING_KEY") {
        Ok(value) if !value.trim().is_empty() => Some(signing_key(&value)?),
        _ => None,
    };
    let config = match EnvConfig::from_env() {
        Ok(_) if signing_key.is_some() => {
            return Err(
                "JWT_SIGNING_KEY takes the place of JWT_SECRET, JWT_PUBLIC_KEY, \
                 JWT_JWKS_URL and JWT_OIDC_ISSUER: set only one of them"
                    .into(),
            );
        }
        Ok(config) => config,
        Err(EnvError::NoKeySource { .. }) if signing_key.is_some() => own_jwks_config(local)?,
        Err(EnvError::NoKeySource { .. }) => {
            tracing::warn!(
                "none of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL, JWT_OIDC_ISSUER is set: \
                 using a random secret for this run only"
            );
            // The other JWT_* variables still apply.
            let random = random_id() + &random_id();
            EnvConfig::from_vars("", |name| match name {
                "JWT_SECRET" => Some(random.clone()),
                _ => std::env::var(name).ok(),
            })
            .map_err(|error| error.to_string())?
        }
        Err(error) => return Err(error.into()),
    };

    // The resource identifier clients see in the RFC 9728 metadata: `RESOURCE_URL`, or the
    // address the demo listens on.
    let resource_url = std::env::var("RESOURCE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty());
    let resource = match &resource_url {
        Some(url) => url.clone(),
        None => format!("http://{}", reachable(local)),
    };
    let app = match shared_redis()? {
        #[cfg(feature = "redis")]
        Some(redis) => {
            use tower_jwt_auth::dpop::RedisDpopReplayStore;
            use tower_jwt_auth::refresh::RedisRefreshStore;
            use tower_jwt_auth::revocation::RedisRevocationStore;
            let (revocations, replays) = match &redis {
                SharedRedis::Single(url) => (
                    RedisRevocationStore::connect_lazy(url)?,
                    RedisDpopReplayStore::connect_lazy(url)?,
                ),
                // A cluster is connected to now: an unreachable one stops the start.
                SharedRedis::Cluster(nodes) => (
                    RedisRevocationStore::connect_cluster(nodes).await?,
                    RedisDpopReplayStore::connect_cluster(nodes).await?,
                ),
            };
            tracing::info!(
                "revocations, refresh tokens and DPoP proofs in Redis{}, revocations mirrored \
                 in memory",
                if matches!(redis, SharedRedis::Cluster(_)) {
                    " Cluster"
                } else {
                    ""
                }
            );
            let refresh_tokens = RedisRefreshStore::sharing(&revocations);
            // Checked in memory, kept current through Redis: a logout on another instance is
            // refused here within a second. Until it has loaded, checks go to Redis.
            let revocations = revocations.mirrored().start_lazy()?;
            let dpop = Dpop::new(resource_url.as_deref(), Some(replays))?;
            app(
                &config,
                signing_key,
                revocations,
                refresh_tokens,
                &resource,
                dpop,
            )?
        }
        _ => {
            let (revocations, refresh_tokens) = memory_stores()?;
            let dpop = Dpop::new(resource_url.as_deref(), None)?;
            app(
                &config,
                signing_key,
                revocations,
                refresh_tokens,
                &resource,
                dpop,
            )?
        }
    };
    tracing::info!("demo API listening on http://{local}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The Redis the instances share: `REDIS_URL`, or the nodes of a Redis Cluster in
/// `REDIS_CLUSTER_NODES` (comma-separated `redis://` URLs).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
enum SharedRedis {
    Single(String),
    Cluster(Vec<String>),
}

/// What `REDIS_URL` and `REDIS_CLUSTER_NODES` ask for. Either one set where it cannot be
/// honoured (both set, a node that is no `redis://` URL, a build without the `redis` feature)
/// stops the start: never memory in its place, which would let each instance forget what the
/// others revoked.
fn shared_redis() -> Result<Option<SharedRedis>, String> {
    let set = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let redis = match (set("REDIS_URL"), set("REDIS_CLUSTER_NODES")) {
        (Some(_), Some(_)) => {
            return Err("REDIS_URL and REDIS_CLUSTER_NODES are both set: set one".into());
        }
        (Some(url), None) => SharedRedis::Single(url),
        (None, Some(nodes)) => {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(|node| node.trim().to_owned())
                .filter(|node| !node.is_empty())
                .collect();
            if let Some(node) = nodes
                .iter()
                .find(|node| !node.starts_with("redis://") && !node.starts_with("rediss://"))
            {
                return Err(format!(
                    "REDIS_CLUSTER_NODES: {node:?} is not a redis:// URL (comma-separated URLs \
                     of the cluster's nodes)"
                ));
            }
            SharedRedis::Cluster(nodes)
        }
        (None, None) => return Ok(None),
    };
    if cfg!(feature = "redis") {
        Ok(Some(redis))
    } else {
        Err(
            "REDIS_URL or REDIS_CLUSTER_NODES is set, but this demo was built without the \
             `redis` feature: run it with `--features redis`, or unset the variable"
                .into(),
        )
    }
}

/// The in-memory stores, bounded by `REVOCATION_CAPACITY` and `REVOCATIONS_PER_SUBJECT`
/// (revocations), `REFRESH_CAPACITY` and `REFRESH_TOKENS_PER_SUBJECT` (refresh tokens), or the
/// crate's defaults.
fn memory_stores() -> Result<(MemoryRevocationStore, MemoryRefreshStore), String> {
    let number = |name: &str, default: usize| match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("{name} must be a whole number, not {value:?}")),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8")),
    };
    let revocations = MemoryRevocationStore::new(number(
        "REVOCATION_CAPACITY",
        DEFAULT_REVOCATION_CAPACITY,
    )? as u64)
    .per_subject(number(
        "REVOCATIONS_PER_SUBJECT",
        DEFAULT_REVOCATIONS_PER_SUBJECT,
    )?);
    let refresh_tokens =
        MemoryRefreshStore::new(number("REFRESH_CAPACITY", DEFAULT_REFRESH_CAPACITY)? as u64)
            .per_subject(number(
                "REFRESH_TOKENS_PER_SUBJECT",
                DEFAULT_REFRESH_TOKENS_PER_SUBJECT,
            )?);
    Ok((revocations, refresh_tokens))
}

fn app(
    config: &EnvConfig,
    signing_key: Option<SigningKey>,
    revocations: impl RevocationStore + Clone,
    refresh_tokens: impl RefreshStore,
    resource: &str,
    dpop: Dpop,
) -> Result<Router, tower_jwt_auth::error::ConfigError> {
    // Every challenge points at the metadata, served below.
    let metadata_url = ProtectedResourceMetadata::new(resource).metadata_url()?;
    let admin_only = RequireRoles::any(["admin"])?.claims::<AccessClaims>();
    let can_read = RequireScope::any(["users:read"])?.claims::<AccessClaims>();
    let can_write = RequireScope::any(["users:write"])?.claims::<AccessClaims>();

    let directory: Directory = Arc::new(Mutex::new(
        USERS
            .iter()
            .filter(|user| user.active)
            .map(|user| user.username.to_owned())
            .collect(),
    ));

    // The demo's issuer and audience unless the environment names its own.
    let issuer_name = config.issuers().first().map_or(ISSUER, String::as_str);
    let audience = config.audiences().first().map_or(AUDIENCE, String::as_str);
    let issuer = match (signing_key, config.hmac_secret()) {
        // Its algorithm is its own (ES256 or EdDSA), its kid the key's thumbprint.
        (Some(key), _) => Some(
            JwtIssuer::builder()
                .key(key)
                .issuer(issuer_name)
                .audience(audience)
                .build()?,
        ),
        (None, Some(secret)) => Some(
            JwtIssuer::builder()
                .key(SigningKey::hmac(secret))
                .algorithm(signing_algorithm(config))
                .issuer(issuer_name)
                .audience(audience)
                .build()?,
        ),
        (None, None) => {
            tracing::warn!(
                key = config.key_variable(),
                "no HMAC secret: POST /auth/login and /auth/refresh answer 501, tokens must \
                 come from the key's owner"
            );
            None
        }
    };
    let sessions = match &issuer {
        Some(issuer) => Some(
            Sessions::builder(issuer.clone(), refresh_tokens)
                .revocations(revocations.clone())
                .build()?,
        ),
        None => None,
    };

    // The session cookie has the name the layers read (JWT_COOKIE_NAME, else `auth`).
    let cookie_name = config
        .cookie_name()
        .unwrap_or(DEFAULT_COOKIE_NAME)
        .to_owned();
    // One configuration, several ways to use it.
    let rules = || {
        let mut builder = config
            .layer_builder()
            .claims::<AccessClaims>()
            .typ("at+jwt")
            .resource_metadata(metadata_url.clone());
        if config.issuers().is_empty() {
            builder = builder.issuer(ISSUER);
        }
        if config.audiences().is_empty() {
            builder = builder.audience(AUDIENCE);
        }
        // The demo's tokens and session cookies live as long as its issuer signs them for.
        if let Some(issuer) = &issuer {
            builder = builder.max_lifetime(issuer.access_lifetime());
        }
        builder
    };
    // Layers that set or clear the session cookie, or read it, share the issuer: the CSRF
    // tokens are derived from its key.
    let with_session = |builder: JwtLayerBuilder<AccessClaims>| match &issuer {
        Some(issuer) => builder
            .session(issuer.clone())
            .session_cookie(SessionCookie::new().name(cookie_name.clone())),
        None => builder,
    };
    // The routes users call take DPoP-bound tokens too; the load routes stay bearer only.
    let verification = || {
        let directory = directory.clone();
        let builder = rules()
            .dpop(DpopMode::Allowed, dpop.verifier.clone())
            .dpop_origin(dpop.origin.clone())
            .revocations(revocations.clone())
            .user_lookup(move |sub: String| {
                let found = directory
                    .lock()
                    .map(|users| users.contains(&sub))
                    .map_err(|_| "user directory lock poisoned");
                async move { Ok::<_, &str>(found?.then_some(DirectoryUser { username: sub })) }
            });
        with_session(builder)
    };
    let required = verification().build()?;
    let optional = verification().optional().build()?;
    let cookie = verification()
        .source(TokenSource::Cookie {
            name: cookie_name.clone(),
        })
        .build()?;
    // Logout takes the access token from either place: API clients and the page.
    let bearer_or_cookie = verification()
        .source(TokenSource::HeaderOrCookie {
            name: cookie_name.clone(),
        })
        .build()?;
    // Login authenticates nobody: this layer is there to turn its `SetSession` into cookies.
    // It reads no cookie, so a stale session cookie neither blocks a new login nor needs CSRF.
    let login_session = with_session(rules().source(TokenSource::Header).optional()).build()?;
    // For scripts/load.sh: the signature and claims alone, without and with the token cache.
    let verify_only = rules().build()?;
    let verify_cached = rules().cache(10_000).build()?;
    // The reference scripts/load.sh compares against: what a hand-written axum middleware does
    // with `jsonwebtoken::decode`, its key and `Validation` prepared once.
    let hand_written = config.hmac_secret().map(|secret| {
        let mut validation = jsonwebtoken::Validation::new(signing_algorithm(config));
        validation.set_issuer(&[issuer_name]);
        validation.set_audience(&[audience]);
        Arc::new(HandWritten {
            key: jsonwebtoken::DecodingKey::from_secret(secret),
            validation,
        })
    });

    // The least any verification can do, for scripts/load.sh: what no layer can go below.
    let floor = config
        .hmac_secret()
        .filter(|_| signing_algorithm(config) == Algorithm::HS256)
        .and_then(|secret| <HmacSha256 as hmac::Mac>::new_from_slice(secret).ok())
        .map(|key| {
            Arc::new(Floor {
                key,
                issuer: issuer_name.to_owned(),
                audience: audience.to_owned(),
            })
        });

    // What verifiers of the demo's tokens fetch: its public keys (none for an HMAC secret),
    // and, when its issuer is a URL another instance can discover, its discovery document.
    let publishing = match &issuer {
        Some(issuer) => {
            let mut routes = Router::new().route_service(JWKS_PATH, issuer.jwks_service());
            if issuer_name.starts_with("http://") || issuer_name.starts_with("https://") {
                routes = routes.route_service(DISCOVERY_PATH, issuer.discovery_service()?);
            }
            routes
        }
        None => Router::new(),
    };
    // RFC 9728: what a client refused a token reads to learn where to get one.
    let metadata = required
        .protected_resource_metadata(resource)
        .scopes_supported(["users:read", "users:write"])
        .resource_name("tower-jwt-auth demo");
    let publishing = publishing.route_service(&metadata.well_known_path()?, metadata.service()?);
    let admins = || RequireRoles::any(["admin"]).map(|guard| guard.claims::<AccessClaims>());
    let openapi: Bytes = ApiDoc::new()
        .public(
            Method::POST,
            "/auth/login",
            "Log in: a token pair and the session cookies",
        )
        .public(
            Method::POST,
            "/auth/refresh",
            "Rotate a refresh token: a new pair",
        )
        .secured(
            Method::GET,
            "/auth/me",
            "The token's claims",
            &required,
            None,
            "200",
        )
        .secured(
            Method::POST,
            "/auth/logout",
            "End this login (its refresh tokens too)",
            &bearer_or_cookie,
            None,
            "204",
        )
        .secured(
            Method::POST,
            "/auth/logout-all",
            "End every login of the user",
            &required,
            None,
            "204",
        )
        .secured(
            Method::GET,
            "/public/hello",
            "A greeting, by name with a token",
            &optional,
            None,
            "200",
        )
        .secured(
            Method::GET,
            "/admin",
            "Admins only",
            &required,
            Some(&admin_only),
            "200",
        )
        .secured(
            Method::GET,
            "/api/users",
            "The users",
            &required,
            Some(&can_read),
            "200",
        )
        .secured(
            Method::POST,
            "/api/users",
            "Add a user",
            &required,
            Some(&can_write),
            "201",
        )
        .secured(
            Method::DELETE,
            "/api/users/{username}",
            "Delete a user: their tokens stop working",
            &required,
            Some(&can_write),
            "204",
        )
        .secured(
            Method::POST,
            "/admin/rotate-key",
            "Sign with a new key; the old one stays published",
            &required,
            Some(&admins()?),
            "200",
        )
        .secured(
            Method::DELETE,
            "/admin/keys/{kid}",
            "Stop publishing a retiring key",
            &required,
            Some(&admins()?),
            "204",
        )
        .secured(
            Method::GET,
            "/web/me",
            "The session's claims",
            &cookie,
            None,
            "200",
        )
        .secured(
            Method::GET,
            "/web/users",
            "The users, for the page's admins",
            &cookie,
            Some(&admin_only),
            "200",
        )
        .secured(
            Method::POST,
            "/web/note",
            "Save a note (CSRF token required)",
            &cookie,
            None,
            "200",
        )
        .into_json()
        .into();
    let state = Arc::new(AppState {
        issuer: issuer.clone(),
        sessions,
        directory,
        notes: Mutex::new(HashMap::new()),
        dpop,
    });
    // Guards sit inside the JWT layer: `route_layer` wraps what was added before it, so the
    // layer added last runs first and the guards see verified claims.
    let mut router = Router::new()
        .route("/", get(index))
        .route("/favicon.svg", get(favicon))
        .route("/openapi.json", get(move || openapi_json(openapi.clone())))
        .route("/auth/login", post(login).route_layer(login_session))
        .route("/auth/refresh", post(refresh))
        .route("/auth/me", get(me).route_layer(required.clone()))
        .route("/auth/logout", post(logout).route_layer(bearer_or_cookie))
        .route(
            "/auth/logout-all",
            post(logout_all).route_layer(required.clone()),
        )
        .route("/public/hello", get(hello).route_layer(optional))
        // The same answer without auth and behind the layer, for scripts/load.sh. Without a
        // layer in front, asking for claims (even `Option`al ones) is a wiring mistake: a 500.
        .route("/load/open", get(stranger))
        .route("/load/auth", get(hello).route_layer(verify_only))
        .route("/load/auth-cached", get(hello).route_layer(verify_cached));
    if let Some(floor) = floor {
        router = router.route(
            "/load/floor",
            get(hello).route_layer(axum::middleware::from_fn_with_state(floor, floor_auth)),
        );
    }
    if let Some(hand_written) = hand_written {
        router = router.route(
            "/load/jsonwebtoken",
            get(hello).route_layer(axum::middleware::from_fn_with_state(
                hand_written,
                hand_written_auth,
            )),
        );
    }
    Ok(router
        .merge(publishing)
        .route(
            "/admin/rotate-key",
            post(rotate_key)
                .route_layer(admins()?)
                .route_layer(required.clone()),
        )
        .route(
            "/admin/keys/{kid}",
            delete(retire_key)
                .route_layer(admins()?)
                .route_layer(required.clone()),
        )
        .route("/web/me", get(me).route_layer(cookie.clone()))
        .route("/web/note", post(web_note).route_layer(cookie.clone()))
        .route(
            "/web/users",
            get(list_users)
                .route_layer(admin_only.clone())
                .route_layer(cookie),
        )
        .route(
            "/admin",
            get(admin)
                .route_layer(admin_only)
                .route_layer(required.clone()),
        )
        .route(
            "/api/users",
            get(list_users)
                .route_layer(can_read)
                .merge(post(add_user).route_layer(can_write.clone()))
                .route_layer(required.clone()),
        )
        .route(
            "/api/users/{username}",
            delete(delete_user)
                .route_layer(can_write)
                .route_layer(required),
        )
        .with_state(state))
}

/// HS256, or the first HMAC algorithm `JWT_ALGORITHMS` allows.
fn signing_algorithm(config: &EnvConfig) -> Algorithm {
    config
        .algorithms()
        .and_then(|algorithms| {
            algorithms
                .iter()
                .copied()
                .find(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        })
        .unwrap_or(Algorithm::HS256)
}

/// The document of `openapi::ApiDoc`, written once at start-up.
async fn openapi_json(document: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document)
}

async fn favicon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON)
}

async fn index() -> Html<&'static str> {
    Html(INDEX_PAGE)
}

/// The token pair in the body for API clients, and the same claims in the session cookie for
/// the page.
async fn login(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(sessions) = &state.sessions else {
        return login_unavailable();
    };
    // An invalid proof is refused, never answered with an unbound pair.
    let proof = match state.dpop.of(&method, &uri, &headers).await {
        Ok(proof) => proof,
        Err(refused) => return refused.into_response(),
    };
    let (Some(username), Some(password)) = (body["username"].as_str(), body["password"].as_str())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    };
    let Some(user) = USERS
        .iter()
        .find(|user| user.username == username && constant_time_eq(user.password, password))
    else {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
        );
    };
    // Only told to someone who knows the password.
    if !user.active {
        return error(
            StatusCode::FORBIDDEN,
            "inactive_user",
            "This account is inactive.",
        );
    }
    let mut claims = user.claims();
    if let Some(proof) = proof {
        // No session cookie: it would be a bearer credential of the bound login.
        return match sessions.login_bound(&claims, &proof).await {
            Ok(pair) => pair.into_response(),
            Err(failure) => failure.into_response(),
        };
    }
    match sessions.login(&claims).await {
        Ok(pair) => {
            // The cookie belongs to the same login as the pair: logging out of either ends both.
            claims.insert("sid".into(), pair.family().into());
            (SetSession::new(&claims), pair).into_response()
        }
        Err(failure) => failure.into_response(),
    }
}

/// Rotates a refresh token, asking the directory first: a deleted or inactive user's login
/// ends here (400 `invalid_grant`), and the roles are read afresh.
/// A session bound to a DPoP key needs a proof by that key.
async fn refresh(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(sessions) = &state.sessions else {
        return login_unavailable();
    };
    let proof = match state.dpop.of(&method, &uri, &headers).await {
        Ok(proof) => proof,
        Err(refused) => return refused.into_response(),
    };
    let refresh_token = body["refresh_token"].as_str().unwrap_or_default();
    let directory = state.directory.clone();
    let renewed = sessions
        .rotate_bound_with(refresh_token, proof.as_ref(), |subject, _stored| {
            let listed = directory
                .lock()
                .map(|users| users.contains(&subject))
                .map_err(|_| "user directory lock poisoned");
            let user = USERS
                .iter()
                .find(|user| user.username == subject && user.active);
            async move { Ok::<_, &str>(user.filter(|_| listed.unwrap_or(false)).map(User::claims)) }
        })
        .await;
    renewed.into_response()
}

/// Revokes the presented access token (bearer or cookie) and, when the JSON body names a
/// `refresh_token`, the login it belongs to; clears the session cookies.
async fn logout(
    State(state): State<Arc<AppState>>,
    revoker: Revoker,
    token: TokenFacts,
    body: Bytes,
) -> Result<(ClearSession, StatusCode), Response> {
    let body: Value = match body.is_empty() {
        true => Value::Null,
        false => serde_json::from_slice(&body).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body must be JSON.",
            )
        })?,
    };
    match &state.sessions {
        Some(sessions) => sessions
            .logout(&token, body["refresh_token"].as_str())
            .await
            .map_err(IntoResponse::into_response)?,
        None => revoker
            .revoke(&token)
            .await
            .map_err(IntoResponse::into_response)?,
    }
    Ok((ClearSession, StatusCode::NO_CONTENT))
}

/// Ends every login of the user: the refresh tokens of all their sessions, and every access
/// token issued until now.
async fn logout_all(
    State(state): State<Arc<AppState>>,
    revoker: Revoker,
    CurrentUser(user): CurrentUser<DirectoryUser>,
) -> Result<StatusCode, Response> {
    match &state.sessions {
        Some(sessions) => sessions
            .logout_everywhere(&user.username)
            .await
            .map_err(IntoResponse::into_response)?,
        None => revoker
            .revoke_subject(&user.username)
            .await
            .map_err(IntoResponse::into_response)?,
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn me(claims: Claims<AccessClaims>) -> Json<AccessClaims> {
    Json(claims.into_inner())
}

async fn hello(claims: Option<Claims<AccessClaims>>) -> Json<Value> {
    Json(json!({ "user": claims.map(|claims| claims.sub.clone()) }))
}

/// What `hello` answers a request without a token, on a route with no layer.
async fn stranger() -> Json<Value> {
    Json(json!({ "user": null }))
}

/// The key and rules of the hand-written middleware `/load/jsonwebtoken` is measured with.
struct HandWritten {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

/// `jsonwebtoken::decode` in an axum middleware, as applications write it by hand: no `typ`
/// check, no error body, the claims where the `Claims` extractor looks for them.
async fn hand_written_auth(
    State(rules): State<Arc<HandWritten>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match jsonwebtoken::decode::<AccessClaims>(token, &rules.key, &rules.validation) {
        Ok(data) => {
            request.extensions_mut().insert(Claims::new(data.claims));
            next.run(request).await
        }
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The floor `/load/floor` is measured with: the HMAC key's inner and outer hashes, prepared
/// once, and the claims the demo's layers require.
struct Floor {
    key: HmacSha256,
    issuer: String,
    audience: String,
}

/// The JOSE header fields the floor looks at.
#[derive(Deserialize)]
struct FloorHeader<'a> {
    alg: &'a str,
    typ: Option<&'a str>,
}

/// A measuring stick, not a verifier to copy: the least work an HS256 check of the demo's
/// tokens can do (split the token, decode its segments onto the stack, parse the header once,
/// the HMAC, parse the claims once into `AccessClaims`, then `alg`, `typ`, `exp`, `iss` and
/// `aud`), with none of what makes a verifier safe to deploy (`nbf`, leeway, duplicate claims,
/// `crit`, error bodies and challenges, limits on the token's size).
async fn floor_auth(
    State(floor): State<Arc<Floor>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match floor_claims(&floor, request.headers()) {
        Some(claims) => {
            request.extensions_mut().insert(Claims::new(claims));
            next.run(request).await
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn floor_claims(floor: &Floor, headers: &axum::http::HeaderMap) -> Option<AccessClaims> {
    use base64::Engine;
    use hmac::Mac;

    let token = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let (signed, signature) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    let base64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut buffer = [0u8; 2048];
    let length = base64url.decode_slice(header, &mut buffer).ok()?;
    let header: FloorHeader<'_> = serde_json::from_slice(&buffer[..length]).ok()?;
    if header.alg != "HS256" || header.typ != Some("at+jwt") {
        return None;
    }
    let length = base64url.decode_slice(signature, &mut buffer).ok()?;
    let mut mac = floor.key.clone();
    mac.update(signed.as_bytes());
    mac.verify_slice(&buffer[..length]).ok()?;
    let length = base64url.decode_slice(payload, &mut buffer).ok()?;
    let claims: AccessClaims = serde_json::from_slice(&buffer[..length]).ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    (claims.exp.as_f64() > now as f64 && claims.iss == floor.issuer && claims.aud == floor.audience)
        .then_some(claims)
}

/// `POST /admin/rotate-key`: a new Ed25519 key signs from now on; the previous ones stay in
/// the JWKS (their tokens still verify) until `DELETE /admin/keys/{kid}` retires them.
async fn rotate_key(State(state): State<Arc<AppState>>) -> Response {
    let Some(issuer) = &state.issuer else {
        return login_unavailable();
    };
    if issuer.jwks()["keys"].as_array().is_none_or(Vec::is_empty) {
        return error(
            StatusCode::CONFLICT,
            "not_rotatable",
            "An HMAC secret is shared with the verifiers: it is not rotated here.",
        );
    }
    let rotated = generated_ed25519()
        .map_err(|error| error.to_string())
        .and_then(|key| {
            issuer
                .rotate(key, None, None)
                .map_err(|error| error.to_string())
        });
    match rotated {
        Ok(kid) => {
            tracing::info!(kid = kid.as_deref(), "signing key rotated");
            Json(json!({ "kid": kid, "jwks": issuer.jwks() })).into_response()
        }
        Err(why) => {
            tracing::error!(%why, "the signing key could not be rotated");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rotation_failed",
                "The key could not be rotated.",
            )
        }
    }
}

/// `DELETE /admin/keys/{kid}`: stops publishing a retiring key.
async fn retire_key(State(state): State<Arc<AppState>>, Path(kid): Path<String>) -> StatusCode {
    match &state.issuer {
        Some(issuer) if issuer.retire(&kid) => StatusCode::NO_CONTENT,
        _ => StatusCode::NOT_FOUND,
    }
}

/// `JWT_SIGNING_KEY`: `generate`, or a P-256 or Ed25519 private key as PEM text or a file path.
fn signing_key(value: &str) -> Result<SigningKey, String> {
    let value = value.trim();
    if value == "generate" {
        tracing::warn!("JWT_SIGNING_KEY=generate: an Ed25519 key for this run only");
        return generated_ed25519();
    }
    let pem = if value.starts_with("-----BEGIN") {
        value.to_owned()
    } else {
        std::fs::read_to_string(value)
            .map_err(|error| format!("JWT_SIGNING_KEY: cannot read the file {value:?}: {error}"))?
    };
    SigningKey::ec_pem(&pem)
        .or_else(|_| SigningKey::ed_pem(&pem))
        .map_err(|_| {
            "JWT_SIGNING_KEY is neither a P-256 (ES256) nor an Ed25519 private key in PEM".into()
        })
}

/// A fresh Ed25519 signing key.
fn generated_ed25519() -> Result<SigningKey, String> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
        .map_err(|_| "no Ed25519 key could be generated".to_owned())?;
    SigningKey::ed_der(pkcs8.as_ref()).map_err(|error| error.to_string())
}

/// Where this process answers: the address it listens on, or loopback for any address.
fn reachable(local: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], local.port()))
    } else {
        local
    }
}

/// The configuration of a demo that signs with an asymmetric key: it verifies its tokens
/// through its own JWKS, so a rotation shows in its routes as in any other verifier's.
#[cfg(feature = "jwks")]
fn own_jwks_config(local: SocketAddr) -> Result<EnvConfig, String> {
    let jwks_url = format!("http://{}{JWKS_PATH}", reachable(local));
    EnvConfig::from_vars("", |name| match name {
        "JWT_JWKS_URL" => Some(jwks_url.clone()),
        // Its own JWKS is next door: a rotated key is found within a second.
        "JWT_JWKS_COOLDOWN" => std::env::var(name).ok().or_else(|| Some("1".into())),
        _ => std::env::var(name).ok(),
    })
    .map_err(|error| error.to_string())
}

#[cfg(not(feature = "jwks"))]
fn own_jwks_config(_local: SocketAddr) -> Result<EnvConfig, String> {
    Err("JWT_SIGNING_KEY needs the demo's `jwks` feature (on by default)".into())
}

async fn admin(Claims(claims): Claims<AccessClaims>) -> Json<Value> {
    Json(json!({ "message": format!("welcome, {}", claims.username) }))
}

async fn list_users(State(state): State<Arc<AppState>>) -> Json<Value> {
    let directory = state
        .directory
        .lock()
        .map(|users| users.clone())
        .unwrap_or_default();
    Json(json!({ "users": directory }))
}

async fn add_user(State(state): State<Arc<AppState>>, Json(body): Json<Value>) -> Response {
    let Some(username) = body["username"].as_str().filter(|name| !name.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username is required",
        );
    };
    match state.directory.lock() {
        Ok(mut users) => {
            users.push(username.to_owned());
            (StatusCode::CREATED, Json(json!({ "username": username }))).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn delete_user(State(state): State<Arc<AppState>>, Path(username): Path<String>) -> Response {
    let Ok(mut users) = state.directory.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let before = users.len();
    users.retain(|user| *user != username);
    if users.len() < before {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "not_found", "No such user.")
    }
}

/// Keeps the caller's note. Behind the cookie layer: the page must send the CSRF header.
async fn web_note(
    State(state): State<Arc<AppState>>,
    Claims(claims): Claims<AccessClaims>,
    Json(body): Json<Value>,
) -> Response {
    let Some(text) = body["text"]
        .as_str()
        .filter(|text| text.chars().count() <= MAX_NOTE_CHARS)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "text is required (at most 1000 characters)",
        );
    };
    let Ok(mut notes) = state.notes.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    notes.insert(claims.sub.clone(), text.to_owned());
    (
        StatusCode::CREATED,
        Json(json!({ "user": claims.sub, "note": text })),
    )
        .into_response()
}

fn login_unavailable() -> Response {
    error(
        StatusCode::NOT_IMPLEMENTED,
        "login_unavailable",
        "This demo signs tokens only with JWT_SECRET; with JWT_PUBLIC_KEY, JWT_JWKS_URL or \
         JWT_OIDC_ISSUER, get tokens from the key's owner.",
    )
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "code": code, "description": description })),
    )
        .into_response()
}

/// Compares without an early exit, so response timing does not reveal how much of a password
/// matched.
fn constant_time_eq(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
