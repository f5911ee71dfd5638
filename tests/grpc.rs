//! gRPC: a real tonic server behind the layer and a guard, on 127.0.0.1, called by a real tonic
//! client. Refusals reach the client as gRPC statuses, not as transport errors.

mod common;

use common::*;
use serde_json::json;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_jwt_auth::guard::{Grants, Guard};
use tower_jwt_auth::revocation::TokenFacts;
use tower_jwt_auth::{JwtLayer, Key, RequireRoles, RequireScope};

/// Serves the gRPC health service behind `auth` and a guard requiring the scope `health:read`;
/// returns a client whose every call carries `authorization` when it is given.
async fn health_behind(auth: JwtLayer) -> impl FnMut(Option<String>) -> HealthCall {
    health_guarded_by(auth, RequireScope::any(["health:read"]).unwrap().into()).await
}

async fn health_guarded_by<C: Send + Sync + 'static>(
    auth: JwtLayer,
    guard: Guard<C>,
) -> impl FnMut(Option<String>) -> HealthCall {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(auth)
            .layer(guard)
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    move |authorization| HealthCall {
        channel: channel.clone(),
        authorization,
    }
}

struct HealthCall {
    channel: Channel,
    authorization: Option<String>,
}

impl HealthCall {
    async fn check(self) -> Result<i32, Status> {
        let mut request = Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(authorization) = self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.parse().unwrap());
        }
        let response = HealthClient::new(self.channel).check(request).await?;
        Ok(response.into_inner().status)
    }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn assert_status(result: Result<i32, Status>, code: Code, message: &str) -> Status {
    let status = result.expect_err("a refusal");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
    status
}

#[tokio::test]
async fn refusals_reach_a_tonic_client_as_grpc_statuses() {
    let mut call = health_behind(hs256_layer()).await;

    let status = assert_status(
        call(None).check().await,
        Code::Unauthenticated,
        "Authorization header not found.",
    );
    // The challenge travels as metadata.
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer error="invalid_request", error_description="Authorization header not found.""#
    );
    assert_status(
        call(Some("Basic abc".into())).check().await,
        Code::Unauthenticated,
        "Expected a bearer token. Scheme is Authorization: Bearer <token>.",
    );
    let forged = forged(&hs256(
        &json!({ "exp": now() + 60, "scope": "health:read" }),
    ));
    assert_status(
        call(bearer(&forged)).check().await,
        Code::Unauthenticated,
        "invalid signature",
    );
    let expired = hs256(&json!({ "exp": now() - 10, "scope": "health:read" }));
    assert_status(
        call(bearer(&expired)).check().await,
        Code::Unauthenticated,
        "jwt expired",
    );

    // The guard answers in gRPC too.
    let unscoped = hs256(&json!({ "exp": now() + 60, "scope": "other" }));
    let status = assert_status(
        call(bearer(&unscoped)).check().await,
        Code::PermissionDenied,
        "Insufficient scope.",
    );
    assert!(
        status
            .metadata()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(r#"scope="health:read""#)
    );

    let valid = hs256(&json!({ "exp": now() + 60, "scope": "openid health:read" }));
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(call(bearer(&valid)).check().await.unwrap(), serving);
}

/// A revocation store that is down fails closed: `UNAVAILABLE`, which clients may retry.
#[tokio::test]
async fn a_store_that_is_down_is_unavailable_to_a_grpc_client() {
    let auth = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .revoked_if(|_facts: TokenFacts| async {
            Err::<bool, _>(std::io::Error::other("the store is down"))
        })
        .build()
        .unwrap();
    let mut call = health_behind(auth).await;
    let valid = hs256(&json!({ "exp": now() + 60, "scope": "health:read", "sub": "alice" }));
    let status = assert_status(
        call(bearer(&valid)).check().await,
        Code::Unavailable,
        "Authentication backend unavailable.",
    );
    assert_eq!(status.metadata().get("retry-after").unwrap(), "5");
}

/// A user's error handler still decides, and it can tell a gRPC call from the rest.
#[tokio::test]
async fn an_error_handler_sees_the_grpc_call_and_may_answer_its_own_way() {
    use tower_jwt_auth::error::{Body, RequestHead, Response};
    let auth = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .error_handler(
            |error: &tower_jwt_auth::AuthError, request: &RequestHead<'_>| -> Response {
                let mut response = error.to_response_for(request, None);
                if request.is_grpc() {
                    let message = format!("custom: {}", error.kind_name());
                    response
                        .headers_mut()
                        .insert("grpc-message", message.parse().unwrap());
                } else {
                    *response.body_mut() = Body::from("not gRPC");
                }
                response
            },
        )
        .build()
        .unwrap();
    let mut call = health_behind(auth).await;
    assert_status(
        call(None).check().await,
        Code::Unauthenticated,
        "custom: missing_authorization_header",
    );
}

#[derive(serde::Deserialize)]
struct Other {}

impl Grants for Other {}

/// A guard that cannot work behind this layer is the server's mistake: `INTERNAL`, never
/// `UNAUTHENTICATED`.
#[tokio::test]
async fn a_misconfigured_guard_is_internal_to_a_grpc_client() {
    let guard = RequireRoles::any(["admin"])
        .unwrap()
        .claims::<Other>()
        .into();
    let mut call = health_guarded_by(hs256_layer(), guard).await;
    let valid = hs256(&json!({ "exp": now() + 60, "roles": ["admin"] }));
    assert_status(
        call(bearer(&valid)).check().await,
        Code::Internal,
        "Internal server error.",
    );
}
