//! WebSockets: an axum WebSocket route behind the layer on 127.0.0.1, opened by a real client
//! (tokio-tungstenite) that, like a browser, cannot set `Authorization`: the token travels in
//! the query string of the upgrade, or in the subprotocol list.

mod common;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower_jwt_auth::source::DEFAULT_WEBSOCKET_MARKER;
use tower_jwt_auth::{Claims, JwtLayer, Key, TokenSource};

/// A WebSocket that greets the token's subject, then echoes.
async fn greet(upgrade: WebSocketUpgrade, claims: Claims) -> axum::response::Response {
    let sub = claims.subject().unwrap_or_default().to_owned();
    // A client that offered the subprotocol gets it selected; one that did not, none.
    upgrade
        .protocols([DEFAULT_WEBSOCKET_MARKER])
        .on_upgrade(move |mut socket| async move {
            let _ = socket.send(Message::text(format!("hello {sub}"))).await;
            while let Some(Ok(Message::Text(text))) = socket.recv().await {
                let _ = socket.send(Message::text(text)).await;
            }
        })
}

/// Serves `/ws` behind a layer reading the token from the query on upgrades only, or from the
/// subprotocol list; returns the `ws://` base URL.
async fn serve() -> String {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(
            TokenSource::query_on_upgrades("access_token").or(TokenSource::websocket_protocol()),
        )
        .build()
        .unwrap();
    let app = Router::new().route("/ws", get(greet)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    format!("ws://{addr}/ws")
}

/// Opens `request`, reads the greeting, and checks one echo.
async fn greeting(request: tungstenite::handshake::client::Request) -> String {
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade is accepted");
    let Some(Ok(tungstenite::Message::Text(greeting))) = socket.next().await else {
        panic!("no greeting");
    };
    socket
        .send(tungstenite::Message::text("ping"))
        .await
        .unwrap();
    let Some(Ok(tungstenite::Message::Text(echo))) = socket.next().await else {
        panic!("no echo");
    };
    assert_eq!(echo.as_str(), "ping");
    greeting.as_str().to_owned()
}

/// The HTTP answer to an upgrade the server refused.
async fn refusal(request: tungstenite::handshake::client::Request) -> (u16, String) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (response.status().as_u16(), String::from_utf8(body).unwrap())
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_opens_with_the_token_in_the_query_and_not_without() {
    let base = serve().await;
    let token = hs256(&claims());
    let request = format!("{base}?access_token={token}")
        .into_client_request()
        .unwrap();
    assert_eq!(greeting(request).await, "hello alice");

    let (status, body) = refusal(base.as_str().into_client_request().unwrap()).await;
    assert_eq!(status, 400);
    assert!(body.contains("Token not found."), "{body}");

    let expired = hs256(&serde_json::json!({ "sub": "alice", "exp": now() - 10 }));
    let request = format!("{base}?access_token={expired}")
        .into_client_request()
        .unwrap();
    let (status, body) = refusal(request).await;
    assert_eq!(status, 401);
    assert!(body.contains("jwt expired"), "{body}");
}

#[tokio::test]
async fn a_websocket_opens_with_the_token_in_the_subprotocol_list() {
    let base = serve().await;
    let token = hs256(&claims());
    let mut request = base.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("{DEFAULT_WEBSOCKET_MARKER}, {token}")
            .parse()
            .unwrap(),
    );
    assert_eq!(greeting(request).await, "hello alice");

    // Both ways at once is two tokens.
    let mut request = format!("{base}?access_token={token}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("{DEFAULT_WEBSOCKET_MARKER}, {token}")
            .parse()
            .unwrap(),
    );
    let (status, body) = refusal(request).await;
    assert_eq!(status, 400);
    assert!(body.contains("Multiple tokens in request."), "{body}");
}
