//! Parts that meet: a layer with the user's claims type, and the untyped guards and extractors
//! behind it; a reader of another type is a 500 (its log lines are in tracing_events.rs).

mod common;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use common::*;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tower_jwt_auth::claims::{JsonClaims, NumericDate};
use tower_jwt_auth::guard::Grants;
use tower_jwt_auth::{Claims, JwtLayer, Key, RequireClaims, RequireRoles, RequireScope};

/// The README's typed quick start: no `Grants`, no `Clone`.
#[derive(Debug, Deserialize)]
struct User {
    sub: String,
    exp: NumericDate,
}

fn user_layer() -> JwtLayer<User> {
    JwtLayer::builder()
        .claims::<User>()
        .key(Key::hmac(SECRET))
        .build()
        .unwrap()
}

fn at(path: &str, token: &str) -> http::Request<axum::body::Body> {
    bearer_to(http::Method::GET, path, token)
}

/// The app a new user writes: a typed layer, the untyped guards of the README, a handler of
/// the layer's type and one of `JsonClaims`.
fn typed_app(layer: JwtLayer<User>) -> Router {
    Router::new()
        .route(
            "/admin",
            get(|Claims(user): Claims<User>| async move {
                assert!(user.exp.as_f64() > 0.0);
                user.sub.clone()
            })
            .route_layer(RequireRoles::any(["admin"]).unwrap()),
        )
        .route(
            "/reports",
            get(|claims: Claims| async move { claims.get("team").unwrap().to_string() })
                .route_layer(RequireScope::all(["reports:read", "reports:list"]).unwrap()),
        )
        .route(
            "/team",
            get(|| async { "team" }).route_layer(RequireClaims::matching(|c: &JsonClaims| {
                c.get("team") == Some(&json!("red"))
            })),
        )
        .layer(layer)
}

#[tokio::test]
async fn untyped_guards_and_extractors_work_under_a_typed_layer() {
    let app = typed_app(user_layer());
    let admin = hs256(&json!({
        "sub": "alice", "exp": now() + 60, "roles": ["admin"],
        "scope": "reports:read reports:list", "team": "red",
    }));
    let answer = send(app.clone(), at("/admin", &admin)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.raw, b"alice");
    let answer = send(app.clone(), at("/reports", &admin)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.raw, br#""red""#);
    assert_eq!(
        send(app.clone(), at("/team", &admin)).await.status,
        StatusCode::OK
    );

    let user = hs256(&json!({
        "sub": "bob", "exp": now() + 60, "roles": ["user"], "scope": "reports:read", "team": "blue",
    }));
    for path in ["/admin", "/reports", "/team"] {
        let answer = send(app.clone(), at(path, &user)).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.body["code"], "insufficient_scope");
    }
}

/// A fractional NumericDate (RFC 7519 §2) passes a typed `exp: NumericDate` field.
#[tokio::test]
async fn a_fractional_exp_fits_a_numeric_date_field() {
    let token = hs256(&json!({ "sub": "alice", "exp": now() as f64 + 60.5, "roles": ["admin"] }));
    let answer = send(typed_app(user_layer()), at("/admin", &token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn the_json_view_is_read_once_per_request_and_shared() {
    #[derive(Clone)]
    struct SeenByMiddleware(usize);

    async fn middleware(
        claims: Claims,
        mut request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let address = Arc::as_ptr(&claims.0) as usize;
        request.extensions_mut().insert(SeenByMiddleware(address));
        next.run(request).await
    }

    let app = Router::new()
        .route(
            "/",
            get(
                |claims: Claims, axum::Extension(seen): axum::Extension<SeenByMiddleware>| async move {
                    (Arc::as_ptr(&claims.0) as usize == seen.0).to_string()
                },
            )
            .route_layer(RequireRoles::any(["admin"]).unwrap())
            .route_layer(axum::middleware::from_fn(middleware)),
        )
        .layer(user_layer());
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 60, "roles": ["admin"] }));
    let answer = send(app, at("/", &token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.raw, b"true");
}

/// The cache keeps the typed claims; the JSON view is read from the token at each request.
#[tokio::test]
async fn untyped_guards_work_under_a_cached_typed_layer_with_checks() {
    let layer = JwtLayer::builder()
        .claims::<User>()
        .key(Key::hmac(SECRET))
        .cache(100)
        .revoked_if(|_facts| async { Ok::<_, std::io::Error>(false) })
        .build()
        .unwrap();
    let app = typed_app(layer);
    let admin = hs256(&json!({ "sub": "alice", "exp": now() + 60, "roles": ["admin"] }));
    let user = hs256(&json!({ "sub": "bob", "exp": now() + 60, "roles": ["user"] }));
    for _ in 0..3 {
        assert_eq!(
            send(app.clone(), at("/admin", &admin)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            send(app.clone(), at("/admin", &user)).await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[derive(Debug, Deserialize)]
struct Staff {
    roles: Vec<String>,
}

impl Grants for Staff {}

/// A reader of another type than the layer's is the server's mistake: 500, never a 401.
#[tokio::test]
async fn a_typed_reader_of_another_type_is_a_500() {
    let extractor = Router::new()
        .route(
            "/",
            get(|Claims(staff): Claims<Staff>| async move { staff.roles.len().to_string() }),
        )
        .layer(user_layer());
    let optional_extractor = Router::new()
        .route(
            "/",
            get(|staff: Option<Claims<Staff>>| async move { staff.is_some().to_string() }),
        )
        .layer(user_layer());
    let guard = Router::new()
        .route(
            "/",
            get(|| async { "ok" })
                .route_layer(RequireRoles::any(["admin"]).unwrap().claims::<Staff>()),
        )
        .layer(user_layer());
    let predicate = Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(RequireClaims::matching(|staff: &Staff| {
                !staff.roles.is_empty()
            })),
        )
        .layer(user_layer());
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 60, "roles": ["admin"] }));
    for app in [extractor, optional_extractor, guard, predicate] {
        send(app, at("/", &token)).await.assert_misconfigured();
    }
}

/// A guard outside the layer (axum applies layers outside in: the last one added runs first)
/// sees no claims at all: a 500 too, for every request, valid token or none.
#[tokio::test]
async fn a_guard_outside_the_layer_is_a_500() {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(user_layer())
        .route_layer(RequireRoles::any(["admin"]).unwrap());
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 60, "roles": ["admin"] }));
    send(app.clone(), at("/", &token))
        .await
        .assert_misconfigured();
    send(app, get_with(&[])).await.assert_misconfigured();
}

/// What a strict claims type refuses to parse, when a registered claim is at fault.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Strict {
    sub: String,
    exp: u64,
    nbf: Option<u64>,
    iat: Option<u64>,
    aud: Option<String>,
    iss: Option<String>,
    scope: String,
}

/// The FoalTS table holds with a typed claims type: a payload that does not fit the type is
/// refused for the registered-claim rule it breaks, and only otherwise as `invalid token`.
#[tokio::test]
async fn the_error_table_holds_with_typed_claims() {
    let strict = || {
        JwtLayer::builder()
            .claims::<Strict>()
            .key(Key::hmac(SECRET))
            .audience("api")
            .issuer("https://issuer.example")
    };
    let app = |layer: JwtLayer<Strict>| {
        Router::new()
            .route("/", get(|_: Claims<Strict>| async { "ok" }))
            .layer(layer)
    };
    let plain = app(strict().build().unwrap());
    let looking_up = app(strict()
        .user_lookup(|sub: String| async move { Ok::<_, std::io::Error>(Some(sub)) })
        .build()
        .unwrap());
    let now = now();
    // Valid but for the one claim each case changes; every case also breaks the type.
    let base = || {
        json!({
            "sub": "alice", "exp": now + 60, "aud": "api", "iss": "https://issuer.example",
        })
    };
    let with = |changes: serde_json::Value| {
        let mut claims = base();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        hs256(&claims)
    };
    let rows: [(&Router, serde_json::Value, &str); 10] = [
        (&plain, json!({ "exp": null }), "jwt expiration required"),
        (&plain, json!({ "exp": "soon" }), "invalid exp value"),
        (&plain, json!({ "exp": now - 10 }), "jwt expired"),
        (&plain, json!({ "nbf": now + 600 }), "jwt not active"),
        (
            &plain,
            json!({ "iat": now + 600 }),
            "jwt issued in the future",
        ),
        (
            &plain,
            json!({ "aud": 7 }),
            "jwt audience invalid. expected: api",
        ),
        (
            &plain,
            json!({ "iss": "https://other.example" }),
            "jwt issuer invalid. expected: https://issuer.example",
        ),
        (
            &looking_up,
            json!({ "sub": null }),
            "The token must include a subject which is the id of the user.",
        ),
        (
            &looking_up,
            json!({ "sub": 42 }),
            "The token must include a subject which is the id of the user.",
        ),
        // No registered claim at fault: the type alone refuses (`scope` is missing).
        (&plain, json!({}), "invalid token"),
    ];
    for (app, changes, description) in rows {
        let answer = send(app.clone(), at("/", &with(changes.clone()))).await;
        answer.assert_rejected(401, "invalid_token", description);
    }
    // The fractional `exp` the RFC allows, in a `u64` field: refused by the type, not by a
    // rule (the crate's `NumericDate` is the field type that takes it).
    let fractional = with(json!({ "exp": now as f64 + 60.5, "scope": "read" }));
    send(plain.clone(), at("/", &fractional))
        .await
        .assert_rejected(401, "invalid_token", "invalid token");
    let fitting = with(json!({ "scope": "read" }));
    assert_eq!(send(plain, at("/", &fitting)).await.status, StatusCode::OK);
}
