//! The demo server (`examples/server.rs`) as a real process, for tests/demo.rs and
//! tests/browser.rs.
//!
//! `cargo test` builds the examples before running tests; to run one of those files alone,
//! build the example first (`cargo build --all-features --example server`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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

/// `cargo test` builds the examples next to the test binaries' `deps` folder.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("server{}", std::env::consts::EXE_SUFFIX))
}

/// The demo's HMAC secret (`JWT_SECRET`) in these tests.
pub const SECRET: &str = "demo-test-secret-demo-test-secret-0123456789";

/// Starts the demo binary on a free loopback port, with a fixed secret and its state in memory,
/// and waits until it listens.
pub async fn start_demo() -> Demo {
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
        .env("JWT_SECRET", SECRET)
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
