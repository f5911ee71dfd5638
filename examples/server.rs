//! The demo API: `cargo run --example server`.
//!
//! Listens on 127.0.0.1:3000 (`BIND` overrides). The layer is configured from the `JWT_*`
//! variables through [`EnvConfig::from_env`] (`JWT_SECRET`, `JWT_PUBLIC_KEY`, `JWT_JWKS_URL`,
//! `JWT_OIDC_ISSUER`, `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY`,
//! `JWT_COOKIE_NAME`, …). With none of the four key variables set, it uses a random secret
//! (tokens then die with the process). The issuer and audience default to
//! `tower-jwt-auth-demo` and `demo-api`.
//!
//! `POST /auth/login` signs HS256 tokens (or the first HMAC algorithm of `JWT_ALGORITHMS`) with
//! the secret. With a public key or a JWKS the demo holds no signing key: login then answers
//! 501 `login_unavailable`, and tokens must come from the key's owner (your identity provider).
//!
//! ```text
//! curl -s localhost:3000/auth/login -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"alice-password"}'
//! curl -s localhost:3000/auth/me -H "authorization: Bearer $TOKEN"
//! curl -s localhost:3000/public/hello
//! curl -s localhost:3000/load/auth -H "authorization: Bearer $TOKEN"   # signature and claims only
//! curl -s localhost:3000/web/me --cookie "auth=$TOKEN"
//! curl -s localhost:3000/api/users -H "authorization: Bearer $TOKEN"   # scope users:read
//! curl -s localhost:3000/admin -H "authorization: Bearer $TOKEN"       # role admin: 403 for alice
//! curl -s -X POST localhost:3000/auth/logout -H "authorization: Bearer $TOKEN"
//! ```
//!
//! Revocations live in memory, or in Redis when `REDIS_URL` is set and the example is built
//! with the `redis` feature (`cargo run --example server --features redis`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use jsonwebtoken::{EncodingKey, Header};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_jwt_auth::{
    Algorithm, AuthError, ClaimPath, Claims, CurrentUser, EnvConfig, EnvError, Grants,
    MemoryRevocations, RequireRoles, RequireScope, Revocations, Revoker, TokenFacts, TokenSource,
    scope_list_contains,
};

const ISSUER: &str = "tower-jwt-auth-demo";
const AUDIENCE: &str = "demo-api";
const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What the demo's access tokens carry.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    username: String,
    roles: Vec<String>,
    scope: String,
    iat: u64,
    exp: u64,
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
}

const USERS: &[User] = &[
    User {
        username: "alice",
        password: "alice-password",
        roles: &["user"],
        scope: "users:read",
    },
    User {
        username: "admin",
        password: "admin-password",
        roles: &["admin"],
        scope: "users:read users:write",
    },
];

struct AppState {
    /// `None` when the key source is a public key or a JWKS: the demo cannot sign then.
    signer: Option<Signer>,
    directory: Directory,
}

/// What `login` needs to issue tokens the layer accepts.
struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
    issuer: String,
    audience: String,
}

/// The "users" resource of `/api/users`, and who the user lookup finds: a token whose user was
/// deleted stops working.
type Directory = Arc<Mutex<Vec<String>>>;

/// What the user lookup puts into requests.
#[derive(Clone, Debug, Serialize)]
struct DirectoryUser {
    username: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_jwt_auth=debug".into()),
        )
        .init();

    let config = match EnvConfig::from_env() {
        Ok(config) => config,
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
        // `main`'s error is shown with `Debug`: show the message instead.
        Err(error) => return Err(error.to_string().into()),
    };
    let addr: SocketAddr = std::env::var("BIND")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;

    let app = match std::env::var("REDIS_URL") {
        #[cfg(feature = "redis")]
        Ok(url) => {
            tracing::info!("revocations in Redis");
            app(
                &config,
                tower_jwt_auth::RedisRevocations::connect_lazy(&url)?,
            )?
        }
        #[cfg(not(feature = "redis"))]
        Ok(_) => {
            tracing::warn!(
                "REDIS_URL is set but the `redis` feature is off: revocations in memory"
            );
            app(&config, MemoryRevocations::default())?
        }
        Err(_) => app(&config, MemoryRevocations::default())?,
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("demo API listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn app(
    config: &EnvConfig,
    revocations: impl Revocations + Clone,
) -> Result<Router, tower_jwt_auth::ConfigError> {
    // `login` signs with jsonwebtoken directly; make sure it has a backend whatever the features.
    tower_jwt_auth::install_crypto_provider()?;
    let admin_only = RequireRoles::<AccessClaims>::any_of(["admin"])?;
    let can_read = RequireScope::<AccessClaims>::any_of(["users:read"])?;
    let can_write = RequireScope::<AccessClaims>::any_of(["users:write"])?;

    let directory: Directory = Arc::new(Mutex::new(
        USERS.iter().map(|user| user.username.to_owned()).collect(),
    ));

    // The demo's issuer and audience unless the environment names its own.
    let issuer = config.issuers().first().map_or(ISSUER, String::as_str);
    let audience = config.audiences().first().map_or(AUDIENCE, String::as_str);

    // One configuration, several ways to use it.
    let rules = || {
        let mut builder = config.layer_builder().claims::<AccessClaims>();
        if config.issuers().is_empty() {
            builder = builder.issuer(ISSUER);
        }
        if config.audiences().is_empty() {
            builder = builder.audience(AUDIENCE);
        }
        builder
    };
    let verification = || {
        let directory = directory.clone();
        rules()
            .revocations(revocations.clone())
            .user_lookup(move |sub: String| {
                let found = directory
                    .lock()
                    .map(|users| users.contains(&sub))
                    .map_err(|_| "user directory lock poisoned");
                async move { Ok::<_, &str>(found?.then_some(DirectoryUser { username: sub })) }
            })
    };
    let required = verification().build()?;
    let optional = verification().optional().build()?;
    let cookie = verification().source(TokenSource::cookie()).build()?;
    // For scripts/load.sh: the signature and claims alone, without and with the token cache.
    let verify_only = rules().build()?;
    let verify_cached = rules().cache(10_000).build()?;

    let signer = config.hmac_secret().map(|secret| Signer {
        key: EncodingKey::from_secret(secret),
        algorithm: config
            .algorithms()
            .and_then(|algorithms| {
                algorithms.iter().copied().find(|alg| {
                    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
                })
            })
            .unwrap_or(Algorithm::HS256),
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
    });
    if signer.is_none() {
        tracing::warn!(
            key = config.key_variable(),
            "no HMAC secret: POST /auth/login answers 501, tokens must come from the key's owner"
        );
    }
    let state = Arc::new(AppState { signer, directory });
    // Guards sit inside the JWT layer: `route_layer` wraps what was added before it, so the
    // layer added last runs first and the guards see verified claims.
    Ok(Router::new()
        .route("/auth/login", post(login))
        .route("/auth/me", get(me).route_layer(required.clone()))
        .route("/auth/logout", post(logout).route_layer(required.clone()))
        .route(
            "/auth/logout-all",
            post(logout_all).route_layer(required.clone()),
        )
        .route("/public/hello", get(hello).route_layer(optional))
        // The same handler without auth and behind the layer, for scripts/load.sh.
        .route("/load/open", get(hello))
        .route("/load/auth", get(hello).route_layer(verify_only))
        .route("/load/auth-cached", get(hello).route_layer(verify_cached))
        .route("/web/me", get(me).route_layer(cookie))
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

async fn login(State(state): State<Arc<AppState>>, Json(body): Json<Value>) -> Response {
    let Some(signer) = &state.signer else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "login_unavailable",
            "This demo signs tokens only with JWT_SECRET; with JWT_PUBLIC_KEY, JWT_JWKS_URL or \
             JWT_OIDC_ISSUER, get tokens from the key's owner.",
        );
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

    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = AccessClaims {
        sub: user.username.to_owned(),
        username: user.username.to_owned(),
        roles: user.roles.iter().map(|role| role.to_string()).collect(),
        scope: user.scope.to_owned(),
        iat,
        exp: iat + ACCESS_TOKEN_LIFETIME.as_secs(),
        jti: random_id(),
        iss: signer.issuer.clone(),
        aud: signer.audience.clone(),
    };
    match jsonwebtoken::encode(&Header::new(signer.algorithm), &claims, &signer.key) {
        Ok(token) => Json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME.as_secs(),
        }))
        .into_response(),
        Err(cause) => {
            tracing::error!(%cause, "signing failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Revokes the presented token: reusing it gets `jwt revoked`.
async fn logout(revoker: Revoker, token: TokenFacts) -> Result<StatusCode, AuthError> {
    revoker.revoke(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every token of the caller issued so far.
async fn logout_all(
    revoker: Revoker,
    CurrentUser(user): CurrentUser<DirectoryUser>,
) -> Result<StatusCode, AuthError> {
    revoker.revoke_subject(&user.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Claims(claims): Claims<AccessClaims>) -> Json<AccessClaims> {
    Json(claims)
}

async fn hello(claims: Option<Claims<AccessClaims>>) -> Json<Value> {
    Json(json!({ "user": claims.map(|Claims(claims)| claims.sub) }))
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
