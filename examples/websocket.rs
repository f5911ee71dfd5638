//! An axum WebSocket route authenticated by a token in the query string, as a browser's
//! `new WebSocket("ws://127.0.0.1:3000/ws?access_token=" + token)` sends it (a browser cannot
//! set `Authorization` on a WebSocket). `JWT_SECRET=<32 bytes or more> cargo run --example
//! websocket`.
//!
//! A token in a URL is exposed more than one in a header (access logs, proxies, history): the
//! layer reads it on upgrade requests only, and such tokens should be short-lived.

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use axum::{Router, routing::get};
use tower_jwt_auth::{Claims, JwtLayer, Key, TokenSource};

async fn chat(upgrade: WebSocketUpgrade, claims: Claims) -> Response {
    let sub = claims.subject().unwrap_or("whoever you are").to_owned();
    upgrade.on_upgrade(move |mut socket| async move {
        let _ = socket.send(Message::text(format!("hello {sub}"))).await;
        while let Some(Ok(Message::Text(text))) = socket.recv().await {
            if socket
                .send(Message::text(format!("{sub}: {text}")))
                .await
                .is_err()
            {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("JWT_SECRET").map_err(|_| "set JWT_SECRET")?;
    let auth = JwtLayer::builder()
        .key(Key::hmac(secret))
        .source(TokenSource::Header.or(TokenSource::query_on_upgrades("access_token")))
        .build()?;
    let app = Router::new().route("/ws", get(chat)).layer(auth);
    axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, app).await?;
    Ok(())
}
