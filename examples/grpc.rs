//! A tonic gRPC server behind the layer and a scope guard: `JWT_SECRET=<32 bytes or more>
//! cargo run --example grpc`, then call `grpc.health.v1.Health/Check` on 127.0.0.1:50051 with
//! `authorization: Bearer <token>` metadata (a token with the scope `health:read`), for example
//! `grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 grpc.health.v1.Health/Check`.
//!
//! Refusals reach the client as gRPC statuses: `UNAUTHENTICATED` for a missing or bad token,
//! `PERMISSION_DENIED` from the guard, `UNAVAILABLE` when a revocation store is down, each with
//! the error table's description as its message.

use tonic::transport::Server;
use tower_jwt_auth::{JwtLayer, Key, RequireScope};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("JWT_SECRET").map_err(|_| "set JWT_SECRET")?;
    let auth = JwtLayer::builder().key(Key::hmac(secret)).build()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        // The layer first: it runs before the guard, which reads the claims it verified.
        .layer(auth)
        .layer(RequireScope::any(["health:read"])?)
        .add_service(health)
        .serve("127.0.0.1:50051".parse()?)
        .await?;
    Ok(())
}
