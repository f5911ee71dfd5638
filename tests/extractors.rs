//! Extractors, custom error rendering and route_layer behaviour.

mod common;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower_jwt_auth::claims::JsonClaims;
use tower_jwt_auth::{AuthError, Claims, JwtLayer, Key, source::BearerToken};

#[tokio::test]
async fn claims_without_the_layer_is_a_500_not_a_401_that_blames_the_client() {
    let app = Router::new().route("/", get(|c: Claims| async move { Json(c.into_inner()) }));
    let answer = send(app, get_with(&[])).await;
    answer.assert_misconfigured();
}

#[tokio::test]
async fn optional_claims_are_none_without_a_token_and_some_with_one() {
    async fn handler(claims: Option<Claims>) -> Json<Value> {
        Json(json!({ "user": claims.as_ref().and_then(|c| c.subject()) }))
    }
    let optional = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .build()
        .unwrap();
    let anonymous = Router::new().route("/", get(handler)).layer(optional);
    send(anonymous, get_with(&[])).await.assert_user(None);

    // Without a layer the route is miswired: `Option` does not hide that.
    let bare = Router::new().route("/", get(handler));
    send(bare, get_with(&[])).await.assert_misconfigured();

    let behind = Router::new().route("/", get(handler)).layer(hs256_layer());
    send(behind, bearer(&hs256(&claims())))
        .await
        .assert_user(Some("alice"));
}

/// A middleware and the handler behind it read one claims value: extracting `Claims` shares
/// the layer's `Arc`, it does not copy the claims (whose type need not be `Clone`).
#[tokio::test]
async fn claims_are_shared_by_every_extraction_of_a_request() {
    #[derive(serde::Deserialize)]
    struct NotClone {
        sub: String,
    }
    #[derive(Clone)]
    struct SeenByMiddleware(usize);

    async fn middleware(
        claims: Claims<NotClone>,
        mut request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> Response {
        let address = std::sync::Arc::as_ptr(&claims.0) as usize;
        request.extensions_mut().insert(SeenByMiddleware(address));
        next.run(request).await
    }
    async fn handler(
        claims: Claims<NotClone>,
        axum::Extension(seen): axum::Extension<SeenByMiddleware>,
    ) -> Json<Value> {
        let shared = std::sync::Arc::as_ptr(&claims.0) as usize == seen.0;
        Json(json!({ "sub": claims.sub, "shared": shared }))
    }

    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .claims::<NotClone>()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(handler))
        .layer(axum::middleware::from_fn(middleware))
        .layer(layer);
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 60 }));
    let answer = send(app, bearer(&token)).await;
    assert_eq!(answer.status, 200, "body: {}", answer.body);
    assert_eq!(answer.body, json!({ "sub": "alice", "shared": true }));
}

fn at(path: &str, mut request: Request<Body>) -> Request<Body> {
    *request.uri_mut() = path.parse().unwrap();
    request
}

fn token_route(layer: JwtLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|token: BearerToken| async move { token.as_str().to_owned() }),
        )
        .route(
            "/optional",
            get(|token: Option<BearerToken>, claims: Claims| async move {
                let sub = claims.subject().unwrap_or_default().to_owned();
                format!(
                    "{sub}:{}",
                    token.as_ref().map_or("none", BearerToken::as_str)
                )
            }),
        )
        .layer(layer)
}

#[tokio::test]
async fn bearer_token_extractor_returns_the_raw_token_when_exposed() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .expose_token()
        .build()
        .unwrap();
    let token = hs256(&claims());
    let answer = send(token_route(layer.clone()), bearer(&token)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.raw, token.as_bytes());
    let answer = send(token_route(layer), at("/optional", bearer(&token))).await;
    assert_eq!(answer.raw, format!("alice:{token}").as_bytes());
}

/// Cache hits hand over the request's token too, as misses do.
#[tokio::test]
async fn a_cache_hit_exposes_the_token_of_its_request() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(100)
        .expose_token()
        .build()
        .unwrap();
    let token = hs256(&claims());
    for _ in 0..3 {
        let answer = send(token_route(layer.clone()), bearer(&token)).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.raw, token.as_bytes());
    }
}

/// The token goes no further than the layer unless asked for: the claims are there, the token
/// is not, and a handler that requires it gets a 500 (the layer was not built to hand it over)
/// rather than something else.
#[tokio::test]
async fn the_token_is_not_handed_over_by_default() {
    let token = hs256(&claims());
    let answer = send(token_route(hs256_layer()), bearer(&token)).await;
    answer.assert_misconfigured();
    assert!(
        !answer
            .raw
            .windows(token.len())
            .any(|w| w == token.as_bytes())
    );
    // `Option` does not hide it: the layer never hands the token over, so `Some` could never be.
    let answer = send(token_route(hs256_layer()), at("/optional", bearer(&token))).await;
    answer.assert_misconfigured();

    // Nor in the extensions a bare service reads, cached or not.
    for layer in [
        hs256_layer(),
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .cache(10)
            .build()
            .unwrap(),
    ] {
        for _ in 0..2 {
            let service = tower::Layer::layer(
                &layer,
                tower::service_fn(|mut request: Request<Body>| async move {
                    let claims = Claims::<JsonClaims>::from_extensions(request.extensions_mut());
                    assert!(claims.unwrap().is_some());
                    let extensions = request.extensions();
                    assert!(extensions.get::<BearerToken>().is_none());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
                }),
            );
            let request = Request::builder()
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let response = tower::ServiceExt::oneshot(service, request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn bearer_token_from_a_cookie_is_the_cookie_value() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(tower_jwt_auth::TokenSource::cookie())
        .expose_token()
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|token: Option<BearerToken>| async move { token.unwrap().as_str().to_owned() }),
        )
        .layer(layer);
    let token = hs256(&claims());
    let answer = send(
        app,
        get_with(&[("cookie", &format!("a=b; auth={token}; c=d"))]),
    )
    .await;
    assert_eq!(answer.raw, token.as_bytes());
}

#[tokio::test]
async fn custom_error_handler_replaces_the_rendering_but_keeps_the_status() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .error_handler(
            |error: &AuthError, _: &tower_jwt_auth::error::RequestHead<'_>| -> Response {
                let mut response =
                    (error.status(), Json(json!({ "error": error.kind_name() }))).into_response();
                if let Some(challenge) = error.challenge(Some("custom")) {
                    response.headers_mut().insert("www-authenticate", challenge);
                }
                response
            },
        )
        .build()
        .unwrap();
    let expired = hs256(&json!({ "exp": now() - 1 }));
    let answer = send(app(layer.clone()), bearer(&expired)).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, json!({ "error": "expired" }));
    assert_eq!(
        answer.challenge(),
        r#"Bearer realm="custom", error="invalid_token", error_description="jwt expired""#
    );
    let answer = send(app(layer), get_with(&[])).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        json!({ "error": "missing_authorization_header" })
    );
}

#[tokio::test]
async fn route_layer_does_not_turn_404_into_400() {
    let app = Router::new()
        .route("/private", get(|| async { "secret" }))
        .route_layer(hs256_layer());
    let request = Request::get("/nowhere").body(Body::empty()).unwrap();
    assert_eq!(
        send(app.clone(), request).await.status,
        StatusCode::NOT_FOUND
    );
    let request = Request::get("/private").body(Body::empty()).unwrap();
    assert_eq!(send(app, request).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn layer_on_one_route_leaves_the_others_open() {
    let app = Router::new()
        .route("/private", get(|| async { "secret" }).layer(hs256_layer()))
        .route("/public", get(|| async { "hello" }));
    let request = Request::get("/public").body(Body::empty()).unwrap();
    assert_eq!(send(app.clone(), request).await.status, 200);
    let request = Request::get("/private").body(Body::empty()).unwrap();
    assert_eq!(send(app, request).await.status, 400);
}

#[test]
fn key_unavailable_is_a_bare_500() {
    let response = AuthError::KeyUnavailable.to_response(Some("api"));
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("www-authenticate").is_none());
    assert!(response.headers().get("content-type").is_none());
}
