//! The Redis the `*_redis` suites share: the one of `REDIS_URL`, seen by each test under its own
//! random key prefix so the tests run in parallel, and what a test does when there is none.
//!
//! Included with `#[path]` by those suites only (the other suites have no Redis to talk to).
//! Each suite adds its own `SharedRedis::store` for the store type it tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::free_port;

/// Whether this is a CI run, where a test that cannot reach its Redis must fail, not pass.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// Fails under CI; otherwise says why `suite::test` did not run (and, once per `how`, how to run
/// it). Written to stderr directly, so it shows without `--nocapture`.
pub fn cannot_run(suite: &str, test: &str, why: &str, how: &str) {
    assert!(
        !in_ci(),
        "{suite}::{test}: {why}; under CI=true this test must run: {how}"
    );
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stderr = std::io::stderr().lock();
    if !said.iter().any(|told| told == how) {
        said.push(how.to_owned());
        let _ = writeln!(stderr, "{suite}: to run the tests below, {how}.");
    }
    let _ = writeln!(stderr, "{suite}::{test} did not run: {why}.");
}

/// `label` and 64 random bits: a name no other test or run uses.
pub fn random_id(label: &str) -> String {
    format!("{label}-{:016x}", rand::random::<u64>())
}

/// The Redis of `REDIS_URL`, seen by one test under its own key prefix.
pub struct SharedRedis {
    pub url: String,
    pub prefix: String,
    pub raw: MultiplexedConnection,
}

impl SharedRedis {
    /// `None`, after saying how to run `suite::test` (`how`), when `REDIS_URL` is unset
    /// (outside CI).
    pub async fn get(suite: &str, test: &str, how: &str) -> Option<Self> {
        let url = match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                cannot_run(suite, test, "REDIS_URL is not set", how);
                return None;
            }
        };
        let raw = raw_connection(&url).await;
        let prefix = format!("tower-jwt-auth-test:{suite}-{}:", random_id(test));
        Some(Self { url, prefix, raw })
    }

    /// Every key under this test's prefix, without the prefix, sorted.
    pub async fn keys(&mut self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.raw)
            .await
            .unwrap();
        keys.sort();
        keys.iter()
            .map(|key| key[self.prefix.len()..].to_owned())
            .collect()
    }

    /// Deletes every key under this test's prefix: long-lived keys are not left behind in a
    /// developer's Redis.
    pub async fn clear(&mut self) {
        let keys = self.keys().await;
        if keys.is_empty() {
            return;
        }
        let keys: Vec<String> = keys
            .iter()
            .map(|id| format!("{}{id}", self.prefix))
            .collect();
        let removed: usize = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut self.raw)
            .await
            .unwrap();
        assert_eq!(removed, keys.len());
    }

    /// The remaining lifetime of a key under this test's prefix (-2: no such key).
    pub async fn ttl(&mut self, id: &str) -> i64 {
        ttl(&mut self.raw, &format!("{}{id}", self.prefix)).await
    }
}

/// A connection of its own to the Redis at `url`, for looking at keys.
pub async fn raw_connection(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connecting to REDIS_URL {url}: {e}"))
}

/// The remaining lifetime of `key` (-2: no such key, -1: no expiry).
pub async fn ttl(raw: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("TTL").arg(key).query_async(raw).await.unwrap()
}

/// Whether a Redis answers `PING` on `port` (within half a second).
async fn answers_ping(port: u16) -> bool {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply == *b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), exchange).await,
        Ok(Ok(true))
    )
}

fn redis_server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// A redis-server owned by one test: loopback only, killed on drop; no persistence unless
/// started persistent (an append-only file synced on every write, so a kill loses nothing).
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// redis-server arguments on top of the defaults (persistence, memory limits).
    config: Vec<String>,
}

impl RedisServer {
    /// Starts one on a free port; `None`, after saying how to run `test`, when there is no
    /// redis-server binary (outside CI).
    pub async fn start(suite: &str, test: &str) -> Option<Self> {
        Self::start_with(suite, test, &[]).await
    }

    /// As [`start`](Self::start), keeping its data across a kill and a restart.
    pub async fn start_persistent(suite: &str, test: &str) -> Option<Self> {
        Self::start_with(
            suite,
            test,
            &["--appendonly", "yes", "--appendfsync", "always"],
        )
        .await
    }

    /// As [`start`](Self::start), with a 4 MB memory limit and `noeviction`: when full it
    /// refuses writes (see [`set_maxmemory`] to make it full at once) and drops nothing.
    pub async fn start_refusing_writes_when_full(suite: &str, test: &str) -> Option<Self> {
        Self::start_with(
            suite,
            test,
            &["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"],
        )
        .await
    }

    /// Starts one on a free port with `config` (redis-server arguments such as
    /// `--maxmemory 1mb`) on top of the defaults.
    pub async fn start_with(suite: &str, test: &str, config: &[&str]) -> Option<Self> {
        if let Err(error) = Command::new(redis_server_binary())
            .arg("--version")
            .output()
        {
            cannot_run(
                suite,
                test,
                &format!("`{}` cannot be run ({error})", redis_server_binary()),
                "install redis-server (Debian/Ubuntu: apt-get install redis-server) \
                 or point REDIS_SERVER at the binary",
            );
            return None;
        }
        let dir = std::env::temp_dir().join(random_id("tower-jwt-auth-redis"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port: 0,
            dir,
            child: None,
            config: config.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        // A free port can be taken between the probe and redis-server's bind: try another one.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn_and_wait(Duration::from_secs(10)).await {
                return Some(server);
            }
        }
        panic!("redis-server did not start; log:\n{}", server.log());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Spawns redis-server on `self.port` and waits until it answers; false if it exited.
    async fn spawn_and_wait(&mut self, within: Duration) -> bool {
        let child = Command::new(redis_server_binary())
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--daemonize", "no"])
            .args(&self.config)
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if answers_ping(self.port).await {
                return true;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                eprintln!("redis-server on port {} exited: {status}", self.port);
                self.child = None;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stop();
        false
    }

    /// Kills the server (no goodbye to its clients) and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.spawn_and_wait(Duration::from_secs(5)).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "redis-server did not start again on port {}; log:\n{}",
            self.port,
            self.log()
        );
    }

    /// Whether the server runs (it was not stopped, or was restarted).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }
}

impl RedisServer {
    /// Freezes the server with SIGSTOP: its clients' commands wait, unanswered, as behind a
    /// stalled network or a stuck process.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen server (SIGCONT): the commands it was sent meanwhile run now.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running redis-server");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sets the `maxmemory` of the Redis at `url` (`"1"`: below what it uses, so it refuses every
/// write as out of memory, as a full Redis under `noeviction` does; `"0"`: no limit).
///
/// Filling it with data instead makes a flaky test: Redis judges its memory before each
/// command with the clients' buffers counted, so what fits changes as buffers grow and shrink.
pub async fn set_maxmemory(url: &str, limit: &str) {
    let mut raw = raw_connection(url).await;
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(limit)
        .query_async(&mut raw)
        .await
        .unwrap();
}

/// A Redis Cluster of three primaries (no replicas) on loopback, each a [`RedisServer`] with
/// its data and cluster configuration kept across a kill and a restart, made into a cluster by
/// `redis-cli --cluster create`. The servers are killed on drop.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the three servers and creates the cluster; `None`, after saying how to run
    /// `test`, without redis-server (outside CI).
    pub async fn start(suite: &str, test: &str) -> Option<Self> {
        let config = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "1000",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ];
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_with(suite, test, &config).await?);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new(redis_cli_binary())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("running redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok(Duration::from_secs(20)).await;
        Some(cluster)
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Waits until every running node says `cluster_state:ok`.
    pub async fn wait_until_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        'waiting: loop {
            assert!(Instant::now() < deadline, "the cluster is not ok");
            for node in self.nodes.iter().filter(|node| node.is_running()) {
                let Ok(client) = redis::Client::open(node.url()) else {
                    continue 'waiting;
                };
                let info: Option<String> = match client.get_multiplexed_async_connection().await {
                    Ok(mut connection) => redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut connection)
                        .await
                        .ok(),
                    Err(_) => None,
                };
                if !info.is_some_and(|info| info.contains("cluster_state:ok")) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'waiting;
                }
            }
            return;
        }
    }
}

/// The redis-cli binary: `REDIS_CLI`, or `redis-cli` from the `PATH`.
fn redis_cli_binary() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned())
}
