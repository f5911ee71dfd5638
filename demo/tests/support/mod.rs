//! The demo server as a real process, and a client for it, for the demo's test suites.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::common::free_port;

/// The demo server, killed when dropped (also when a test panics).
pub struct Demo {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo binary, which cargo builds before the demo package's integration tests.
fn demo_binary() -> PathBuf {
    env!("CARGO_BIN_EXE_tower-jwt-auth-demo").into()
}

/// The demo's HMAC secret (`JWT_SECRET`) in these tests.
pub const SECRET: &str = "demo-test-secret-demo-test-secret-0123456789";

/// Starts the demo binary on a free loopback port, with a fixed secret and its state in memory,
/// and waits until it answers.
pub async fn start_demo() -> Demo {
    start_demo_from(None).await
}

/// How many ports a server is tried on before the test gives up.
const ATTEMPTS: usize = 3;

/// [`start_demo`], with `first_port` for the first attempt (a free one when `None`).
///
/// The demo must answer as the demo does (see [`on_a_free_port`]): one that exits or does not
/// is replaced on another port.
pub async fn start_demo_from(first_port: Option<u16>) -> Demo {
    on_a_free_port("demo", first_port, |port, _| start_on(port, &[])).await
}

/// [`start_demo`] with more environment variables.
pub async fn start_demo_with(env: &[(&str, &str)]) -> Demo {
    on_a_free_port("demo", None, |port, _| start_on(port, env)).await
}

/// [`start_demo`] with environment variables that name its own port (its URL as `JWT_ISSUER`).
pub async fn start_demo_naming_its_port(env: impl Fn(u16) -> Vec<(String, String)>) -> Demo {
    on_a_free_port("demo", None, |port, _| {
        let env = env(port);
        async move {
            let env: Vec<(&str, &str)> = env
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            start_on(port, &env).await
        }
    })
    .await
}

/// Starts a server with `start(port, attempt)` until one works, on `first_port` first (a free
/// port when `None`), then on free ports, [`ATTEMPTS`] times in all; panics with every failure.
///
/// A port picked free is only free until the server binds it: something else may take it in
/// between, and a check that the port listens would then reach that something. So `start`
/// must prove the server works, and each failed attempt is reported with `what`.
pub async fn on_a_free_port<T, F, Fut>(what: &str, first_port: Option<u16>, mut start: F) -> T
where
    F: FnMut(u16, usize) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut failures = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let port = match (attempt, first_port) {
            (1, Some(port)) => port,
            _ => free_port(),
        };
        match start(port, attempt).await {
            Ok(server) => return server,
            Err(failure) => {
                eprintln!("{what}: attempt {attempt} of {ATTEMPTS} on port {port}: {failure}");
                failures.push(format!("port {port}: {failure}"));
            }
        }
    }
    panic!("{what}: no server after {ATTEMPTS} attempts: {failures:?}");
}

async fn start_on(port: u16, env: &[(&str, &str)]) -> Result<Demo, String> {
    let binary = demo_binary();
    let child = Command::new(binary)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        // Each demo keeps its revocations in memory: a Redis exported for other tests would be
        // shared by demos running in parallel (and outlive them).
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut demo = Demo {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if let Ok(Some(status)) = demo.child.try_wait() {
            return Err(format!("the demo exited ({status})"));
        }
        if answers_as_the_demo(port).await {
            return Ok(demo);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err("no answer from the demo".to_owned())
}

/// Whether `GET /public/hello` on `port` answers what the demo answers to an anonymous caller.
async fn answers_as_the_demo(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Ok(mut connection) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /public/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if connection.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        connection.read_to_end(&mut response),
    )
    .await;
    let response = String::from_utf8_lossy(&response);
    matches!(read, Ok(Ok(_)))
        && response.starts_with("HTTP/1.1 200")
        && response.ends_with(r#"{"user":null}"#)
}

/// A loopback port taken by a listener that is not a server: it accepts every connection and
/// closes it at once. Holds the port until dropped.
pub struct Squatter {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Squatter {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                if let Ok((connection, _)) = listener.accept().await {
                    drop(connection);
                }
            }
        });
        Self { port, task }
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the demo answered.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `Set-Cookie` header values, in order.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    }
}

/// Sends one request to the demo, with a JSON body when given.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Value>) -> Reply {
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
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// [`send`], keeping the status and the JSON body.
pub async fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let reply = send(method, url, headers, body).await;
    (reply.status, reply.body)
}
