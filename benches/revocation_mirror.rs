//! What a revocation check costs with the mirror (issue 23), against the memory store and the
//! plain Redis store's `MGET`, and how many revocations a mirror absorbs through its
//! subscription.
//!
//! - Requests through a one-route axum `Router` behind a cached HS256 layer (the check is then
//!   most of what differs), one layer per store, taking turns in rounds; medians. The stores
//!   hold 10,000 ended logins of other users.
//! - Absorption: 200,000 revocations announced on the channel in pipelines, timed until the
//!   mirror holds them all.
//!
//! `cargo bench --bench revocation_mirror` with `REDIS_URL` set, or with `redis-server` on the
//! `PATH` (started on a free port for the run). Under `cargo test --benches` it runs a few
//! requests, as a check that it works.

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::revocation::{
    MemoryRevocationStore, MirroredRevocationStore, RedisRevocationStore, RevocationStore,
};
use tower_jwt_auth::{JwtLayer, Key};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";

/// A redis-server of the bench's own, killed when dropped.
struct OwnRedis(Child);

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `REDIS_URL`, or a redis-server started for the run.
fn redis_url() -> (String, Option<OwnRedis>) {
    if let Ok(url) = std::env::var("REDIS_URL")
        && !url.is_empty()
    {
        return (url, None);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = OwnRedis(
        Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("REDIS_URL unset and no redis-server to start"),
    );
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..200 {
        if redis::Client::open(url.as_str())
            .and_then(|client| client.get_connection())
            .is_ok()
        {
            return (url, Some(child));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not start on {url}");
}

fn token(now: u64, jti: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "248289761001", "jti": jti, "iat": now - 60, "exp": now + 3600 }),
        &EncodingKey::from_secret(SECRET),
    )
    .expect("a token")
}

fn router(store: impl RevocationStore) -> Router {
    Router::new().route("/", get(|| async { "ok" })).layer(
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .cache(10_000)
            .revocations(store)
            .build()
            .expect("the layer"),
    )
}

/// Ends `count` logins of other users in `store`, as their logouts would.
async fn fill(store: &impl RevocationStore, now: u64, count: usize) {
    for i in 0..count {
        store
            .revoke_login(
                &format!("login-{i}"),
                &format!("user-{i}"),
                now,
                Duration::from_secs(3600),
            )
            .await
            .expect("a revocation");
    }
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let (rounds, per_round, absorbed) = if benching {
        (9, 20_000, 200_000)
    } else {
        (1, 20, 2_000)
    };
    let (url, _own) = redis_url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let prefix = format!("bench-mirror-{}:", now);
    let (memory, plain, mirror) = runtime.block_on(async {
        let memory = MemoryRevocationStore::default();
        let plain = RedisRevocationStore::connect(&url)
            .await
            .expect("Redis")
            .with_prefix(&prefix);
        let mirror: MirroredRevocationStore = plain
            .clone()
            .mirrored()
            .start(Duration::from_secs(10))
            .await
            .expect("the mirror");
        let filled = if benching { 10_000 } else { 100 };
        fill(&memory, now, filled).await;
        fill(&mirror, now, filled).await;
        (memory, plain, mirror)
    });
    let token = token(now, "the-bench-token");
    let cases = [
        ("memory store", router(memory)),
        ("mirror", router(mirror.clone())),
        ("Redis MGET", router(plain)),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (index, (_, app)) in cases.iter().enumerate() {
            let started = Instant::now();
            runtime.block_on(async {
                for _ in 0..per_round {
                    let request = http::Request::get("/")
                        .header("authorization", format!("Bearer {token}"))
                        .body(Body::empty())
                        .expect("a request");
                    let response = app.clone().oneshot(request).await.expect("an answer");
                    assert_eq!(response.status(), 200);
                    black_box(response);
                }
            });
            times[index].push(started.elapsed().as_nanos() as f64 / per_round as f64);
        }
    }
    let median = |values: &[f64]| {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let memory_ns = median(&times[0]);
    println!(
        "Revocation checks behind a Router, cached HS256 ({rounds} rounds of {per_round}; medians):"
    );
    for ((name, _), values) in cases.iter().zip(&times) {
        let ns = median(values);
        println!(
            "{name}: {ns:.0} ns a request, {:.2}x the memory store",
            ns / memory_ns
        );
    }

    // Absorption: revocations announced straight on the channel, as fast as Redis takes them.
    let took = runtime.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("the URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("a connection");
        let channel = format!("{prefix}events");
        let before = mirror.len();
        let started = Instant::now();
        for batch in 0..absorbed / 1_000 {
            let mut pipe = redis::pipe();
            for i in 0..1_000 {
                pipe.cmd("PUBLISH")
                    .arg(&channel)
                    .arg(format!("3600 1 jti:absorbed-{batch}-{i}"))
                    .ignore();
            }
            let () = pipe.query_async(&mut connection).await.expect("published");
        }
        while mirror.len() < before + absorbed {
            assert!(started.elapsed() < Duration::from_secs(60), "not absorbed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        started.elapsed()
    });
    println!(
        "Absorbed {absorbed} revocations in {:.0} ms: {:.0} a second",
        took.as_secs_f64() * 1000.0,
        absorbed as f64 / took.as_secs_f64()
    );
}
