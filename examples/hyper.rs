//! The layer around a bare hyper 1 service, without axum. `JWT_SECRET=<32 bytes or more>
//! cargo run --example hyper`, then `curl localhost:3000 -H "authorization: Bearer $TOKEN"`.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower_jwt_auth::{Claims, JwtLayer, Key};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("JWT_SECRET").map_err(|_| "set JWT_SECRET")?;
    let auth = JwtLayer::builder().key(Key::hmac(secret)).build()?;
    let hello = tower::ServiceBuilder::new().layer(auth).service_fn(
        |mut request: Request<Incoming>| async move {
            // `Ok(None)` only behind an optional layer; a wiring mistake is an error, logged.
            let claims: Option<Claims> = Claims::from_extensions(request.extensions_mut())
                .ok()
                .flatten();
            let sub = claims
                .as_ref()
                .and_then(|c| c.subject())
                .unwrap_or("stranger");
            let body = Full::new(Bytes::from(format!("hello {sub}\n")));
            Ok::<_, Infallible>(Response::new(body))
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(hello.clone());
        tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service),
        );
    }
}
