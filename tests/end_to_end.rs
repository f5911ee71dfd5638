//! A real server on 127.0.0.1 and a real HTTP client: axum, and bare hyper without axum.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

async fn get(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = Request::get(format!("http://{addr}/"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn axum_server_authenticates_over_http() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app(hs256_layer())).into_future());

    let token = hs256(&claims());
    let (status, _, body) = get(addr, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"user":"alice"}"#)
    );

    let (status, challenge, body) = get(addr, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"code":"invalid_request","description":"Authorization header not found."}"#
    );
    assert_eq!(
        challenge,
        r#"Bearer error="invalid_request", error_description="Authorization header not found.""#
    );
}

#[tokio::test]
async fn bare_hyper_service_works_without_axum() {
    let service = ServiceBuilder::new().layer(hs256_layer()).service_fn(
        |mut request: Request<Incoming>| async move {
            let claims = tower_jwt_auth::Claims::from_extensions(request.extensions_mut());
            let sub = claims
                .ok()
                .flatten()
                .and_then(|claims: tower_jwt_auth::Claims| claims.subject().map(str::to_owned))
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                "hello {sub}"
            )))))
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let token = hs256(&claims());
    let (status, _, body) = get(addr, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello alice"));

    let expired = hs256(&serde_json::json!({ "exp": now() - 1 }));
    let (status, challenge, body) =
        get(addr, &[("authorization", &format!("Bearer {expired}"))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        r#"{"code":"invalid_token","description":"jwt expired"}"#
    );
    assert_eq!(
        challenge,
        r#"Bearer error="invalid_token", error_description="jwt expired""#
    );
}
