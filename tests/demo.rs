//! The demo server (`cargo run --example server`), run as a real process on 127.0.0.1 and
//! driven with a real HTTP client.
//!
//! `cargo test` builds the examples before running tests; to run this file alone, build the
//! example first (`cargo build --example server && cargo test --test demo`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

struct Demo {
    child: Child,
    base: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo test` builds the examples next to the test binaries' `deps` folder.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("server{}", std::env::consts::EXE_SUFFIX))
}

async fn start_demo() -> Demo {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = example_binary();
    assert!(
        binary.exists(),
        "{} missing: run through `cargo test`",
        binary.display()
    );
    let child = Command::new(binary)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", "demo-test-secret-demo-test-secret-0123456789")
        .env("RUST_LOG", "warn")
        // Each demo keeps its revocations in memory: a Redis exported for other tests would be
        // shared by demos running in parallel (and outlive them).
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let demo = Demo {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return demo;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the demo server did not start listening");
}

async fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Full::new(Bytes::from(body.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(demo: &Demo, username: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "username": username, "password": password });
    call(
        "POST",
        &format!("{}/auth/login", demo.base),
        &[],
        Some(body),
    )
    .await
}

#[tokio::test]
async fn demo_server_logs_in_and_serves_every_route() {
    let demo = start_demo().await;

    let (status, body) = login(&demo, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");

    let (status, me) = call(
        "GET",
        &format!("{}/auth/me", demo.base),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["username"], "alice");
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["iss"], "tower-jwt-auth-demo");
    assert_eq!(me["aud"], "demo-api");
    assert_eq!(
        me["exp"].as_u64().unwrap() - me["iat"].as_u64().unwrap(),
        900
    );
    // 128 random bits, base64url.
    assert_eq!(me["jti"].as_str().unwrap().len(), 22);

    let (status, body) = call("GET", &format!("{}/auth/me", demo.base), &[], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["description"], "Authorization header not found.");

    let (_, hello) = call("GET", &format!("{}/public/hello", demo.base), &[], None).await;
    assert_eq!(hello, json!({ "user": null }));
    let (_, hello) = call(
        "GET",
        &format!("{}/public/hello", demo.base),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(hello, json!({ "user": "alice" }));

    let cookie = format!("auth={token}");
    let (status, me) = call(
        "GET",
        &format!("{}/web/me", demo.base),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["sub"], "alice");
    let (status, body) = call(
        "GET",
        &format!("{}/web/me", demo.base),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["description"], "Auth cookie not found.");

    let (status, body) = login(&demo, "admin", "admin-password").await;
    assert_eq!(status, StatusCode::OK);
    let admin = format!("Bearer {}", body["access_token"].as_str().unwrap());
    let (_, me) = call(
        "GET",
        &format!("{}/auth/me", demo.base),
        &[("authorization", &admin)],
        None,
    )
    .await;
    assert_eq!(me["roles"], json!(["admin"]));
}

#[tokio::test]
async fn demo_login_refuses_bad_credentials_and_missing_fields() {
    let demo = start_demo().await;
    for (username, password) in [
        ("alice", "wrong"),
        ("nobody", "alice-password"),
        ("alice", "alice-password "),
    ] {
        let (status, body) = login(&demo, username, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["description"], "Invalid credentials");
    }
    let url = format!("{}/auth/login", demo.base);
    let (status, _) = call("POST", &url, &[], Some(json!({ "username": "alice" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        "POST",
        &url,
        &[],
        Some(json!({ "password": "alice-password" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn demo_guards_admin_and_users_routes() {
    let demo = start_demo().await;
    let token = |body: Value| format!("Bearer {}", body["access_token"].as_str().unwrap());
    let alice = token(login(&demo, "alice", "alice-password").await.1);
    let admin = token(login(&demo, "admin", "admin-password").await.1);
    let admin_url = format!("{}/admin", demo.base);
    let users_url = format!("{}/api/users", demo.base);

    let (status, body) = call("GET", &admin_url, &[("authorization", &alice)], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({ "code": "insufficient_scope", "description": "Insufficient role." })
    );
    let (status, _) = call("GET", &admin_url, &[("authorization", &admin)], None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call("GET", &admin_url, &[], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = call("GET", &users_url, &[("authorization", &alice)], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["users"], json!(["alice", "admin"]));
    // Not carol: she is a user of the demo, inactive, and not in the directory.
    let new_user = Some(json!({ "username": "dave" }));
    let (status, body) = call(
        "POST",
        &users_url,
        &[("authorization", &alice)],
        new_user.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["description"], "Insufficient scope.");
    let (status, _) = call("POST", &users_url, &[("authorization", &admin)], new_user).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = call("GET", &users_url, &[("authorization", &admin)], None).await;
    assert_eq!(body["users"], json!(["alice", "admin", "dave"]));
    let (status, _) = call("DELETE", &users_url, &[("authorization", &admin)], None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn demo_logout_revokes_and_deleted_users_lose_access() {
    let demo = start_demo().await;
    let token = |body: Value| format!("Bearer {}", body["access_token"].as_str().unwrap());
    let me = format!("{}/auth/me", demo.base);

    // Logout revokes the presented token only.
    let first = token(login(&demo, "alice", "alice-password").await.1);
    let second = token(login(&demo, "alice", "alice-password").await.1);
    let logout = format!("{}/auth/logout", demo.base);
    let (status, _) = call("POST", &logout, &[("authorization", &first)], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call("GET", &me, &[("authorization", &first)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({ "code": "invalid_token", "description": "jwt revoked" })
    );
    let (status, _) = call("GET", &me, &[("authorization", &second)], None).await;
    assert_eq!(status, StatusCode::OK);

    // Logout-all revokes every token issued before it, including ones issued a while ago.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = call(
        "POST",
        &format!("{}/auth/logout-all", demo.base),
        &[("authorization", &second)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = call("GET", &me, &[("authorization", &second)], None).await;
    assert_eq!(body["description"], "jwt revoked");

    // A deleted user's token no longer matches any user.
    let admin = token(login(&demo, "admin", "admin-password").await.1);
    let ann = token(login(&demo, "alice", "alice-password").await.1);
    let (status, body) = call("GET", &me, &[("authorization", &ann)], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let delete = format!("{}/api/users/alice", demo.base);
    let (status, _) = call("DELETE", &delete, &[("authorization", &admin)], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call("GET", &me, &[("authorization", &ann)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["description"],
        "The token subject does not match any user."
    );
}
