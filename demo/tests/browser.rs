//! The demo's page (`GET /`) in headless Chromium, driven through WebDriver (chromedriver and
//! the fantoccini client): what a person does with it, as a browser really does it, HttpOnly
//! and `Secure` cookies on `http://127.0.0.1` included.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`, `/usr/bin/chromedriver`);
//! `scripts/test` installs them. Without them the tests say how to run them and pass, except
//! under `CI=true`, where they fail. Like tests/demo.rs, they spawn the demo binary, which
//! `cargo test -p tower-jwt-auth-demo` builds first.
#![cfg(unix)]

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::future::Future;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use support::{Squatter, on_a_free_port, start_demo};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the page may take to show what a step expects.
const WAIT: Duration = Duration::from_secs(15);
/// How often it is looked at meanwhile.
const POLL: Duration = Duration::from_millis(50);

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// chromedriver, and the Chromium it starts, in a process group of their own: killed together
/// when dropped, also when a test panics.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`); Chromium's processes are in
        // it too, so none outlives the test.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChromeDriver {
    /// Starts chromedriver on `port` and waits until something listens there, or chromedriver
    /// exits; `Err` says which.
    async fn start(port: u16, log: &Path) -> Result<Self, String> {
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {CHROMEDRIVER}: {error}"));
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                return Err(format!("chromedriver exited ({status})"));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(driver);
            }
            if Instant::now() >= deadline {
                return Err(format!("chromedriver did not listen on port {port}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A new headless Chromium session. `--no-sandbox` because CI runs as root, where
    /// Chromium's sandbox refuses to start.
    async fn session(&self) -> Result<Client, String> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1024,768",
                ],
            }),
        );
        // What the page's console shows, read with `console_log`.
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .map_err(|error| format!("starting a Chromium session: {error}"))
    }
}

/// chromedriver and a Chromium session in it, ready for `test`; `None` (after saying why) when
/// Chromium or its driver is not installed and this is not CI.
///
/// The session is what proves the driver works (see [`on_a_free_port`]): a driver without one
/// is replaced by a new one on another port. `first_port` is the port of the first attempt (a
/// free one when `None`). Each failed attempt is reported with chromedriver's log.
async fn browser(test: &str, first_port: Option<u16>) -> Option<(ChromeDriver, Client)> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if !missing.is_empty() {
        let how = "install them (apt-get install chromium chromium-driver) or run scripts/test";
        assert!(
            !in_ci(),
            "browser::{test}: {missing:?} not found; under CI=true this test must run: {how}"
        );
        let _ = writeln!(
            std::io::stderr(),
            "browser::{test} did not run: {missing:?} not found; to run it, {how}."
        );
        return None;
    }
    let what = format!("browser::{test}");
    let started = on_a_free_port(&what, first_port, |port, attempt| async move {
        let log = std::env::temp_dir().join(format!(
            "tower-jwt-auth-chromedriver-{}-{test}-{attempt}.log",
            std::process::id()
        ));
        let started = match ChromeDriver::start(port, &log).await {
            Ok(driver) => driver.session().await.map(|client| (driver, client)),
            Err(error) => Err(error),
        };
        let started = started.map_err(|failure| format!("{failure}\n{}", log_tail(&log)));
        // Unlinked, not closed, when the driver runs: chromedriver goes on writing to it unseen.
        let _ = std::fs::remove_file(&log);
        started
    })
    .await;
    Some(started)
}

/// The last lines of chromedriver's log, for a failure report.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_else(|error| format!("(no log: {error})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Polls `probe` until it answers `Some`, for at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "waited {WAIT:?} for {what} in vain"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The rendered text of element `id` (empty while it is hidden); `None` while it is missing.
async fn text(client: &Client, id: &str) -> Option<String> {
    client.find(Locator::Id(id)).await.ok()?.text().await.ok()
}

async fn wait_for_text(client: &Client, id: &str, expected: &str) {
    let what = format!("#{id} to show {expected:?}");
    eventually(&what, || async {
        (text(client, id).await.as_deref() == Some(expected)).then_some(())
    })
    .await;
}

/// Waits until `shown` is displayed and `hidden` is not.
async fn wait_for_view(client: &Client, shown: &str, hidden: &str) {
    let what = format!("#{shown} shown and #{hidden} hidden");
    eventually(&what, || async {
        let displayed = |id| async move {
            let element = client.find(Locator::Id(id)).await.ok()?;
            element.is_displayed().await.ok()
        };
        (displayed(shown).await? && !displayed(hidden).await?).then_some(())
    })
    .await;
}

async fn fill(client: &Client, id: &str, value: &str) {
    let input = client.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

async fn click(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn log_in(client: &Client, username: &str, password: &str) {
    fill(client, "username", username).await;
    fill(client, "password", password).await;
    click(client, "login-button").await;
}

/// What the page's own script can read of the cookies.
async fn document_cookie(client: &Client) -> String {
    let cookie = client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    cookie.as_str().unwrap().to_owned()
}

/// chromedriver's command for the browser's console log since the last read.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The console messages since the last call: a failed request is one, whatever its status,
/// and so is a script error.
async fn console_log(client: &Client) -> Vec<String> {
    let entries = client.issue_cmd(BrowserLog).await.unwrap();
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| format!("{} {}", entry["level"], entry["message"]))
        .collect()
}

/// The attribute `name` of element `id`.
async fn attribute(client: &Client, id: &str, name: &str) -> Option<String> {
    let element = client.find(Locator::Id(id)).await.ok()?;
    element.attr(name).await.ok().flatten()
}

/// Whether element `id` is displayed.
async fn displayed(client: &Client, id: &str) -> bool {
    let element = client.find(Locator::Id(id)).await.unwrap();
    element.is_displayed().await.unwrap()
}

/// The status `GET path` answers to a `fetch` from the page, with the browser's cookies.
async fn fetch_status(client: &Client, path: &str) -> Value {
    let script = "const done = arguments[arguments.length - 1];
        fetch(arguments[0], { credentials: 'same-origin' })
            .then((response) => done(response.status), (error) => done(String(error)));";
    client
        .execute_async(script, vec![json!(path)])
        .await
        .unwrap()
}

#[tokio::test]
async fn page_logs_in_posts_a_note_and_logs_out_in_headless_chromium() {
    let Some((_driver, client)) = browser("page_logs_in_posts_a_note_and_logs_out", None).await
    else {
        return;
    };
    let demo = start_demo().await;
    client.goto(&format!("{}/", demo.base)).await.unwrap();

    // No session yet: the page shows the login form without asking the server, and the
    // console is clean (no failed /web/me, a favicon that exists).
    wait_for_view(&client, "login-view", "session-view").await;
    assert!(!displayed(&client, "logout-message").await);
    log_in(&client, "alice", "alice-password").await;
    wait_for_view(&client, "session-view", "login-view").await;
    wait_for_text(&client, "current-user", "alice").await;
    wait_for_text(&client, "current-roles", "user").await;
    // The session's expiry: its token's, within the demo's access lifetime (15 minutes).
    let expiry = attribute(&client, "session-expiry", "datetime")
        .await
        .expect("the expiry's datetime");
    let expiry = client
        .execute(
            "return Date.parse(arguments[0]) / 1000 - Date.now() / 1000;",
            vec![json!(expiry)],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!((800.0..=901.0).contains(&expiry), "expires in {expiry} s");
    assert!(!text(&client, "session-expiry").await.unwrap().is_empty());
    // Alice is no admin: the admin section stays hidden.
    assert!(!displayed(&client, "admin-view").await);

    // The session is in an HttpOnly cookie the script cannot read; the CSRF token is readable.
    let cookies = document_cookie(&client).await;
    let names: Vec<&str> = cookies
        .split("; ")
        .filter_map(|cookie| cookie.split('=').next())
        .collect();
    assert!(
        names.contains(&"XSRF-TOKEN"),
        "document.cookie: {cookies:?}"
    );
    assert!(!cookies.contains("auth="), "document.cookie: {cookies:?}");
    let auth = client.get_named_cookie("auth").await.unwrap();
    assert_eq!(auth.http_only(), Some(true));
    assert_eq!(auth.secure(), Some(true));

    // A reload finds the session again through the cookie.
    client.refresh().await.unwrap();
    wait_for_view(&client, "session-view", "login-view").await;
    wait_for_text(&client, "current-user", "alice").await;

    // The note goes through the CSRF-protected POST /web/note.
    fill(&client, "note-text", "water the plants").await;
    click(&client, "note-button").await;
    wait_for_text(&client, "note-saved", "water the plants").await;
    assert_eq!(text(&client, "session-error").await.as_deref(), Some(""));

    click(&client, "logout-button").await;
    wait_for_view(&client, "login-view", "session-view").await;
    wait_for_text(&client, "logout-message", "You are logged out.").await;
    assert_eq!(text(&client, "current-user").await.as_deref(), Some(""));
    assert!(client.get_named_cookie("auth").await.is_err());
    let cookies = document_cookie(&client).await;
    assert!(
        !cookies.contains("XSRF-TOKEN"),
        "document.cookie: {cookies:?}"
    );
    // A reload after the logout: the login form, and still not a single failed request.
    client.refresh().await.unwrap();
    wait_for_view(&client, "login-view", "session-view").await;
    assert_eq!(console_log(&client).await, Vec::<String>::new());
    // Without the cookie, /web/me finds no session.
    assert_eq!(fetch_status(&client, "/web/me").await, json!(400));

    client.close().await.unwrap();
}

#[tokio::test]
async fn page_shows_admins_their_action_and_others_not() {
    let Some((_driver, client)) =
        browser("page_shows_admins_their_action_and_others_not", None).await
    else {
        return;
    };
    let demo = start_demo().await;
    client.goto(&format!("{}/", demo.base)).await.unwrap();
    wait_for_view(&client, "login-view", "session-view").await;
    log_in(&client, "admin", "admin-password").await;
    wait_for_view(&client, "session-view", "login-view").await;
    wait_for_text(&client, "current-roles", "admin").await;
    assert!(displayed(&client, "admin-view").await);
    click(&client, "users-button").await;
    wait_for_text(&client, "users", "alice, admin").await;
    assert_eq!(text(&client, "admin-error").await.as_deref(), Some(""));

    click(&client, "logout-button").await;
    wait_for_view(&client, "login-view", "session-view").await;
    assert!(!displayed(&client, "admin-view").await);
    assert_eq!(console_log(&client).await, Vec::<String>::new());

    // The route the button calls is the admins' only: a user's session gets 403.
    log_in(&client, "alice", "alice-password").await;
    wait_for_text(&client, "current-user", "alice").await;
    assert_eq!(fetch_status(&client, "/web/users").await, json!(403));
    client.close().await.unwrap();
}

#[tokio::test]
async fn page_shows_the_error_of_a_wrong_password() {
    let Some((_driver, client)) = browser("page_shows_the_error_of_a_wrong_password", None).await
    else {
        return;
    };
    let demo = start_demo().await;
    client.goto(&format!("{}/", demo.base)).await.unwrap();
    wait_for_view(&client, "login-view", "session-view").await;

    log_in(&client, "alice", "not-her-password").await;
    wait_for_text(&client, "login-error", "Invalid credentials").await;
    assert!(client.get_named_cookie("auth").await.is_err());

    log_in(&client, "carol", "carol-password").await;
    wait_for_text(&client, "login-error", "This account is inactive.").await;
    wait_for_view(&client, "login-view", "session-view").await;
    assert!(client.get_named_cookie("auth").await.is_err());
    // The console shows the two refused logins, and nothing else.
    let log = console_log(&client).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log.iter().all(|entry| entry.contains("/auth/login")),
        "{log:#?}"
    );

    client.close().await.unwrap();
}

/// The port picked for chromedriver is taken by something that is not a WebDriver server (it
/// accepts connections and closes them): the session fails there, and the browser comes up on
/// another port.
#[tokio::test]
async fn a_taken_driver_port_is_left_for_another() {
    let squatter = Squatter::start().await;
    let port = squatter.port;
    let Some((driver, client)) =
        browser("a_taken_driver_port_is_left_for_another", Some(port)).await
    else {
        return;
    };
    assert_ne!(driver.url, format!("http://127.0.0.1:{port}"));
    let demo = start_demo().await;
    client.goto(&format!("{}/", demo.base)).await.unwrap();
    wait_for_view(&client, "login-view", "session-view").await;
    client.close().await.unwrap();
}
