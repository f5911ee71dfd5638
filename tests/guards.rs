//! Authorization guards behind the layer: roles, scopes, predicates, and how they compose.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_jwt_auth::{
    JwtLayer, Key, RequireClaims, RequireRoles, RequireScope,
    claims::JsonClaims,
    guard::{ClaimPath, Grants, Guard},
};

fn guarded(guard: impl Into<Guard>) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }).route_layer(guard.into()))
        .layer(hs256_layer())
}

async fn status(guard: impl Into<Guard>, claims: Value) -> StatusCode {
    let mut claims = claims;
    claims["exp"] = json!(now() + 60);
    send(guarded(guard), bearer(&hs256(&claims))).await.status
}

fn assert_forbidden(answer: &Answer, description: &str, scope: Option<&str>) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "code": "insufficient_scope", "description": description })
    );
    let mut challenge =
        format!(r#"Bearer error="insufficient_scope", error_description="{description}""#);
    if let Some(scope) = scope {
        challenge.push_str(&format!(r#", scope="{scope}""#));
    }
    assert_eq!(answer.challenge(), challenge);
}

#[tokio::test]
async fn any_role_lets_one_matching_role_through() {
    let guard = || RequireRoles::any(["admin", "ops"]).unwrap();
    assert_eq!(
        status(guard(), json!({ "roles": ["user", "ops"] })).await,
        StatusCode::OK
    );
    let token = hs256(&json!({ "exp": now() + 60, "roles": ["user"] }));
    let answer = send(guarded(guard()), bearer(&token)).await;
    assert_forbidden(&answer, "Insufficient role.", None);
}

#[tokio::test]
async fn all_roles_need_every_role() {
    let guard = || RequireRoles::all(["admin", "ops"]).unwrap();
    assert_eq!(
        status(guard(), json!({ "roles": ["ops", "admin"] })).await,
        StatusCode::OK
    );
    assert_eq!(
        status(guard(), json!({ "roles": ["admin"] })).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn near_miss_roles_are_refused() {
    for roles in [
        json!(["Admin"]),
        json!(["admin "]),
        json!(["adm"]),
        json!("admin"),
        json!(null),
        json!([["admin"]]),
    ] {
        let guard = RequireRoles::any(["admin"]).unwrap();
        assert_eq!(
            status(guard, json!({ "roles": roles })).await,
            StatusCode::FORBIDDEN,
            "{roles}"
        );
    }
    let guard = RequireRoles::any(["admin"]).unwrap();
    assert_eq!(status(guard, json!({})).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn nested_role_paths_keycloak_style() {
    let realm = || {
        RequireRoles::any(["admin"])
            .unwrap()
            .at(ClaimPath::dotted("realm_access.roles").unwrap())
    };
    assert_eq!(
        status(realm(), json!({ "realm_access": { "roles": ["admin"] } })).await,
        StatusCode::OK
    );
    assert_eq!(
        status(realm(), json!({ "roles": ["admin"] })).await,
        StatusCode::FORBIDDEN
    );

    let client = ClaimPath::new(["resource_access", "web.app", "roles"]).unwrap();
    let guard = RequireRoles::any(["editor"]).unwrap().at(client);
    let claims = json!({ "resource_access": { "web.app": { "roles": ["editor"] } } });
    assert_eq!(status(guard, claims).await, StatusCode::OK);
}

#[tokio::test]
async fn scope_guard_reports_required_scopes_in_the_challenge() {
    let guard = || RequireScope::any(["users:read", "users:admin"]).unwrap();
    assert_eq!(
        status(guard(), json!({ "scope": "openid users:read" })).await,
        StatusCode::OK
    );
    let token = hs256(&json!({ "exp": now() + 60, "scope": "openid" }));
    let answer = send(guarded(guard()), bearer(&token)).await;
    assert_forbidden(
        &answer,
        "Insufficient scope.",
        Some("users:read users:admin"),
    );
}

#[tokio::test]
async fn scopes_match_whole_tokens_only() {
    for scope in ["read:all", "readwrite", "  ", "Read", "read:all  write"] {
        let guard = RequireScope::any(["read"]).unwrap();
        assert_eq!(
            status(guard, json!({ "scope": scope })).await,
            StatusCode::FORBIDDEN,
            "{scope:?}"
        );
    }
    let guard = RequireScope::all(["read", "write"]).unwrap();
    assert_eq!(
        status(guard, json!({ "scope": "write  read" })).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scp_array_is_understood() {
    let guard = || RequireScope::all(["read", "write"]).unwrap();
    assert_eq!(
        status(guard(), json!({ "scp": ["write", "read"] })).await,
        StatusCode::OK
    );
    assert_eq!(
        status(guard(), json!({ "scp": ["write"] })).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn predicate_guard_decides_on_any_claim() {
    let guard = || {
        RequireClaims::matching(|claims: &JsonClaims| claims.get("tenant") == Some(&json!("acme")))
    };
    assert_eq!(
        status(guard(), json!({ "tenant": "acme" })).await,
        StatusCode::OK
    );
    let token = hs256(&json!({ "exp": now() + 60, "tenant": "evil" }));
    let answer = send(guarded(guard()), bearer(&token)).await;
    assert_forbidden(&answer, "Insufficient claims.", None);
}

#[tokio::test]
async fn a_guard_with_no_layer_in_front_is_a_500_and_an_anonymous_request_a_401() {
    let app = Router::new().route(
        "/",
        get(|| async { "ok" }).route_layer(RequireRoles::any(["admin"]).unwrap()),
    );
    let answer = send(app, get_with(&[])).await;
    answer.assert_misconfigured();

    // Behind the optional layer with no token: no claims, and the client's to fix.
    let optional = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(RequireScope::any(["x"]).unwrap()),
        )
        .layer(optional);
    send(app, get_with(&[])).await.assert_unauthenticated();
}

#[tokio::test]
async fn guards_on_route_layer_keep_404_and_405() {
    let app = guarded(RequireRoles::any(["admin"]).unwrap());
    let token = hs256(&json!({ "exp": now() + 60, "roles": ["user"] }));
    let mut request = bearer(&token);
    *request.uri_mut() = "/missing".parse().unwrap();
    assert_eq!(
        send(app.clone(), request).await.status,
        StatusCode::NOT_FOUND
    );
    let mut request = bearer(&token);
    *request.method_mut() = http::Method::POST;
    assert_eq!(
        send(app, request).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn preflight_passes_only_when_allowed() {
    let preflight = || {
        Request::options("/")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap()
    };
    // Behind the optional layer: a preflight carries no token.
    let app = |guard: RequireRoles| {
        let optional = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .optional()
            .build()
            .unwrap();
        Router::new()
            .route(
                "/",
                get(|| async { "ok" })
                    .options(|| async { "preflight" })
                    .route_layer(guard),
            )
            .layer(optional)
    };
    let answer = send(
        app(RequireRoles::any(["admin"]).unwrap().allow_preflight()),
        preflight(),
    )
    .await;
    assert_eq!(
        (answer.status, answer.raw.as_slice()),
        (StatusCode::OK, b"preflight".as_slice())
    );
    let answer = send(app(RequireRoles::any(["admin"]).unwrap()), preflight()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // A plain OPTIONS request is not a preflight and is still guarded.
    let plain = Request::options("/").body(Body::empty()).unwrap();
    let answer = send(
        app(RequireRoles::any(["admin"]).unwrap().allow_preflight()),
        plain,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[derive(Clone, Deserialize)]
struct Typed {
    roles: Vec<String>,
    #[serde(default)]
    scope: String,
}

impl Grants for Typed {
    fn has_role(&self, _path: &ClaimPath, role: &str) -> bool {
        self.roles.iter().any(|granted| granted == role)
    }
    fn has_scope(&self, scope: &str) -> bool {
        tower_jwt_auth::guard::scope_list_contains(&self.scope, scope)
    }
}

/// `/admin` needs the role `admin` and `/read` the scope `read`, read from `T`.
fn typed_guards<T>() -> Router
where
    T: Grants + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let layer = JwtLayer::builder()
        .claims::<T>()
        .key(Key::hmac(SECRET))
        .build()
        .unwrap();
    Router::new()
        .route(
            "/admin",
            get(|| async { "ok" }).route_layer(RequireRoles::any(["admin"]).unwrap().claims::<T>()),
        )
        .route(
            "/read",
            get(|| async { "ok" }).route_layer(RequireScope::any(["read"]).unwrap().claims::<T>()),
        )
        .layer(layer)
}

async fn typed_status(app: &Router, path: &str, claims: Value) -> StatusCode {
    let mut claims = claims;
    claims["exp"] = json!(now() + 60);
    let request = bearer_to(http::Method::GET, path, &hs256(&claims));
    send(app.clone(), request).await.status
}

#[derive(Deserialize)]
struct Staff {
    roles: Vec<String>,
}

/// A roles-only claims type implements one method; its scopes grant nothing.
impl Grants for Staff {
    fn has_role(&self, _path: &ClaimPath, role: &str) -> bool {
        self.roles.iter().any(|granted| granted == role)
    }
}

/// Typed guards read the layer's claims type through its `Grants`; a type implementing only
/// `has_role` grants no scope.
#[tokio::test]
async fn guards_work_with_a_typed_claims_struct_and_a_roles_only_one() {
    let typed = typed_guards::<Typed>();
    let roles_only = typed_guards::<Staff>();
    let admin_writer = json!({ "roles": ["admin"], "scope": "write" });
    let reader = json!({ "roles": [], "scope": "read" });
    let admin_reader = json!({ "roles": ["admin"], "scope": "read" });
    for (app, path, grants, status) in [
        (&typed, "/admin", &admin_writer, StatusCode::OK),
        (&typed, "/read", &admin_writer, StatusCode::FORBIDDEN),
        (&typed, "/read", &reader, StatusCode::OK),
        (&roles_only, "/admin", &admin_reader, StatusCode::OK),
        (&roles_only, "/read", &admin_reader, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            typed_status(app, path, grants.clone()).await,
            status,
            "{path} {grants}"
        );
    }
}

/// The guards answer in the format of the layer in front of them: its error handler, or its
/// realm in the challenge; without either, the default rendering.
#[tokio::test]
async fn guards_render_their_refusals_as_the_layer_does() {
    let app = |layer: JwtLayer| {
        Router::new()
            .route(
                "/",
                get(|| async { "ok" }).route_layer(RequireRoles::any(["admin"]).unwrap()),
            )
            .layer(layer)
    };
    let token = hs256(&json!({ "exp": now() + 60, "roles": ["user"] }));

    let handled = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .error_handler(custom_rendering)
        .build()
        .unwrap();
    let answer = send(app(handled.clone()), bearer(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(text(&answer), "custom: insufficient_scope");
    // The layer's own refusals go through the same handler.
    let answer = send(app(handled), bearer("not-a-jwt")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(text(&answer), "custom: invalid_token");

    let realm = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .realm("api")
        .build()
        .unwrap();
    let answer = send(app(realm), bearer(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge(),
        r#"Bearer realm="api", error="insufficient_scope", error_description="Insufficient role.""#
    );

    // Behind the optional layer without a token, the guard's 401 is the handler's too.
    let optional = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .error_handler(custom_rendering)
        .build()
        .unwrap();
    let answer = send(app(optional), get_with(&[])).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(text(&answer), "custom: none");

    // The default layer: the default rendering, as before.
    let answer = send(app(hs256_layer()), bearer(&token)).await;
    assert_forbidden(&answer, "Insufficient role.", None);
}

fn custom_rendering(
    error: &tower_jwt_auth::AuthError,
    _request: &tower_jwt_auth::error::RequestHead<'_>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let code = error.code().unwrap_or("none");
    (error.status(), format!("custom: {code}")).into_response()
}

fn text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.raw).into_owned()
}
