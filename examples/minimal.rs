//! The smallest useful app. `JWT_SECRET=<32 bytes or more> cargo run --example minimal`, then
//! `curl localhost:3000/me -H "authorization: Bearer $TOKEN"` with an HS256 token of that secret.

use axum::{Router, routing::get};
use tower_jwt_auth::{Claims, JwtLayer, Key, RequireRoles};

async fn me(claims: Claims) -> String {
    format!("hello {}", claims.subject().unwrap_or("whoever you are"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("JWT_SECRET").map_err(|_| "set JWT_SECRET")?;
    let auth = JwtLayer::builder().key(Key::hmac(secret)).build()?;
    let app = Router::new()
        .route("/me", get(me))
        .route(
            "/admin",
            get(|| async { "hi admin" }).route_layer(RequireRoles::any(["admin"])?),
        )
        .layer(auth);
    axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, app).await?;
    Ok(())
}
