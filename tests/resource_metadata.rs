//! Protected-resource metadata (RFC 9728): the document, its service, and the
//! `resource_metadata` parameter of the layer's and the guards' challenges.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{Method, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::error::ConfigError;
use tower_jwt_auth::layer::Tenant;
use tower_jwt_auth::resource::{PROTECTED_RESOURCE_PATH, ProtectedResourceMetadata};
use tower_jwt_auth::source::TokenSource;
use tower_jwt_auth::{JwtLayer, Key, RequireScope};

const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource";

async fn fetch(app: Router, method: Method, path: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

#[tokio::test]
async fn the_layer_describes_its_issuers_and_token_methods() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .issuer("https://auth.example.com")
        .source(TokenSource::Header.or(TokenSource::query("access_token")))
        .build()
        .unwrap();
    let metadata = layer
        .protected_resource_metadata("https://api.example.com")
        .scopes_supported(["read", "write"])
        .resource_name("Example API");
    let app = Router::new().route_service(PROTECTED_RESOURCE_PATH, metadata.service().unwrap());
    let answer = fetch(app.clone(), Method::GET, PROTECTED_RESOURCE_PATH).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "public, max-age=3600");
    assert_eq!(
        answer.body,
        json!({
            "resource": "https://api.example.com",
            "authorization_servers": ["https://auth.example.com"],
            "scopes_supported": ["read", "write"],
            "bearer_methods_supported": ["header", "query"],
            "resource_name": "Example API",
        })
    );
    let head = fetch(app.clone(), Method::HEAD, PROTECTED_RESOURCE_PATH).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.raw.is_empty());
    let post = fetch(app, Method::POST, PROTECTED_RESOURCE_PATH).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn tenants_are_the_authorization_servers_and_a_cookie_is_no_bearer_method() {
    let layer = JwtLayer::builder()
        .tenant(Tenant::new("https://a.example.com").key(Key::hmac(SECRET)))
        .tenant(Tenant::new("https://b.example.com").key(Key::hmac(SECRET)))
        .source(TokenSource::cookie())
        .build()
        .unwrap();
    let document = layer
        .protected_resource_metadata("https://api.example.com/v1")
        .document()
        .unwrap();
    assert_eq!(
        document,
        json!({
            "resource": "https://api.example.com/v1",
            "authorization_servers": ["https://a.example.com", "https://b.example.com"],
            "bearer_methods_supported": [],
        })
    );
}

#[tokio::test]
async fn a_resource_with_a_path_is_described_under_the_well_known_path_and_that_path() {
    let metadata = ProtectedResourceMetadata::new("https://api.example.com/v1");
    let path = metadata.well_known_path().unwrap();
    assert_eq!(path, "/.well-known/oauth-protected-resource/v1");
    assert_eq!(
        metadata.metadata_url().unwrap(),
        "https://api.example.com/.well-known/oauth-protected-resource/v1"
    );
    let app = Router::new().route_service(&path, metadata.service().unwrap());
    let answer = fetch(app, Method::GET, &path).await;
    assert_eq!(answer.body["resource"], "https://api.example.com/v1");
}

/// Every challenge of the layer, and of a guard behind it, points at the metadata.
#[tokio::test]
async fn challenges_carry_the_metadata_url() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .realm("api")
        .resource_metadata(METADATA_URL)
        .build()
        .unwrap();
    let missing = send(app(layer.clone()), get_with(&[])).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.challenge(),
        format!(
            r#"Bearer realm="api", error="invalid_request", error_description="Authorization header not found.", resource_metadata="{METADATA_URL}""#
        )
    );
    let expired = hs256(&json!({ "sub": "alice", "exp": now() - 600 }));
    let refused = send(app(layer.clone()), bearer(&expired)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.challenge(),
        format!(
            r#"Bearer realm="api", error="invalid_token", error_description="jwt expired", resource_metadata="{METADATA_URL}""#
        )
    );
    let guarded = Router::new()
        .route("/", get(|| async { "ok" }))
        .route_layer(RequireScope::all(["write"]).unwrap())
        .layer(layer);
    let forbidden = send(guarded, bearer(&hs256(&claims()))).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(
        forbidden.challenge().ends_with(&format!(
            r#", scope="write", resource_metadata="{METADATA_URL}""#
        )),
        "{}",
        forbidden.challenge()
    );
}

#[tokio::test]
async fn a_grpc_refusal_carries_it_too() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .resource_metadata(METADATA_URL)
        .build()
        .unwrap();
    let request = Request::post("/")
        .header("content-type", "application/grpc")
        .body(Body::empty())
        .unwrap();
    let response = app(layer).oneshot(request).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "16");
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.ends_with(&format!(r#"resource_metadata="{METADATA_URL}""#)),
        "{challenge}"
    );
}

#[test]
fn a_metadata_url_that_cannot_work_is_refused_at_build() {
    for url in [
        "/.well-known/oauth-protected-resource",
        "http://api.example.com/.well-known/oauth-protected-resource",
        "https://api.example.com/\"quoted\"",
        "",
    ] {
        let built = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .resource_metadata(url)
            .build();
        assert!(
            matches!(built, Err(ConfigError::InvalidMetadata(_))),
            "{url}: {built:?}"
        );
    }
    let with_handler = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .resource_metadata(METADATA_URL)
        .error_handler(
            |error: &tower_jwt_auth::AuthError, _: &tower_jwt_auth::error::RequestHead<'_>| {
                error.to_response(None)
            },
        )
        .build();
    let Err(ConfigError::InvalidMetadata(why)) = with_handler else {
        panic!("{with_handler:?}");
    };
    assert!(why.contains("error_handler"), "{why}");
    assert!(
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .resource_metadata("http://127.0.0.1:8080/.well-known/oauth-protected-resource")
            .build()
            .is_ok()
    );
}
