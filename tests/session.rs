//! Session cookies set by handlers (`SetSession` / `ClearSession`), their attributes byte for
//! byte, sliding renewal, and CSRF protection of cookie authentication.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::json;
use tower_jwt_auth::{
    Claims, JwtLayer, Key, TokenSource,
    error::ConfigError,
    issuer::{JwtIssuer, SigningKey},
    layer::JwtLayerBuilder,
    session::{ClearSession, SameSite, SessionCookie, SetSession},
};

fn issuer_at(clock: Arc<AtomicU64>, lifetime: u64) -> JwtIssuer {
    JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .access_lifetime(Duration::from_secs(lifetime))
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap()
}

fn issuer() -> JwtIssuer {
    issuer_at(Arc::new(AtomicU64::new(now())), 900)
}

/// A layer reading the `auth` cookie, with the session.
fn cookie_layer(issuer: &JwtIssuer) -> JwtLayerBuilder<tower_jwt_auth::claims::JsonClaims> {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .session(issuer.clone())
}

/// `POST /login` sets a session (optional layer), `POST /logout` clears it, `GET|POST /me`
/// answers the cookie's subject, `GET /missing` is a 404 behind the cookie layer.
fn app(issuer: &JwtIssuer, cookie: JwtLayer) -> Router {
    let login_layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .session(issuer.clone())
        .build()
        .unwrap();
    let me =
        |Claims(c): Claims| async move { Json(json!({ "sub": c.subject(), "jti": c["jti"] })) };
    Router::new()
        .route(
            "/login",
            post(|| async {
                let claims = json!({ "sub": "alice", "roles": ["user"] });
                (SetSession::new(&claims), "welcome")
            })
            .route_layer(login_layer.clone()),
        )
        .route(
            "/bad-login",
            post(|| async { (SetSession::new(&json!(["not", "an", "object"])), "oops") })
                .route_layer(login_layer),
        )
        .route(
            "/me",
            get(me)
                .post(me)
                .put(me)
                .patch(me)
                .delete(me)
                .head(|| async { StatusCode::OK })
                .options(|| async { StatusCode::OK })
                .route_layer(cookie.clone()),
        )
        .route(
            "/logout",
            post(|| async { (ClearSession, StatusCode::NO_CONTENT) }).route_layer(cookie.clone()),
        )
        .route(
            "/missing",
            get(|| async { StatusCode::NOT_FOUND }).route_layer(cookie),
        )
}

use axum::Json;

/// The `Set-Cookie` headers of an answer.
fn set_cookies(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// A session: the auth token and the CSRF token from the login's cookies.
struct Session {
    token: String,
    csrf: String,
}

async fn login(app: &Router) -> Session {
    let answer = send(app.clone(), request(Method::POST, "/login", &[])).await;
    assert_eq!(answer.status, 200);
    let cookies = set_cookies(&answer);
    let value = |name: &str| {
        cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned()
    };
    Session {
        token: value("auth"),
        csrf: value("XSRF-TOKEN"),
    }
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

/// An unsafe request carrying the session cookie `auth=<token>` and `csrf` in `X-CSRF-Token`.
fn post_with_session(uri: &str, token: &str, csrf: &str) -> Request<Body> {
    let cookie = format!("auth={token}");
    request(
        Method::POST,
        uri,
        &[("cookie", &cookie), ("x-csrf-token", csrf)],
    )
}

#[tokio::test]
async fn set_session_writes_both_cookies_byte_for_byte() {
    let issuer = issuer();
    let app = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let answer = send(app.clone(), request(Method::POST, "/login", &[])).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.raw, b"welcome");
    let cookies = set_cookies(&answer);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let token = cookies[0]
        .strip_prefix("auth=")
        .and_then(|rest| rest.strip_suffix("; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=900"))
        .unwrap_or_else(|| panic!("auth cookie: {}", cookies[0]));
    let csrf = cookies[1]
        .strip_prefix("XSRF-TOKEN=")
        .and_then(|rest| rest.strip_suffix("; Secure; SameSite=Lax; Path=/; Max-Age=900"))
        .unwrap_or_else(|| panic!("csrf cookie: {}", cookies[1]));
    assert_eq!(csrf.len(), 43, "HMAC-SHA256, base64url");

    // The cookie holds an access token of the issuer with the handler's claims.
    let claims = payload(token);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    let strict = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .typ("at+jwt")
        .build()
        .unwrap();
    try_token(strict, token).await.assert_user(Some("alice"));
}

#[tokio::test]
async fn clear_session_expires_both_cookies() {
    let issuer = issuer();
    let app = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let session = login(&app).await;
    let answer = send(
        app,
        post_with_session("/logout", &session.token, &session.csrf),
    )
    .await;
    assert_eq!(answer.status, 204);
    assert_eq!(
        set_cookies(&answer),
        [
            "auth=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0",
            "XSRF-TOKEN=; Secure; SameSite=Lax; Path=/; Max-Age=0",
        ]
    );
}

#[tokio::test]
async fn responses_without_a_session_part_leave_the_cookies_alone() {
    let issuer = issuer();
    let app = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let session = login(&app).await;
    let cookie = format!("auth={}", session.token);
    let answer = send(app, request(Method::GET, "/me", &[("cookie", &cookie)])).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["sub"], "alice");
    assert!(set_cookies(&answer).is_empty());
}

#[tokio::test]
async fn cookie_attributes_are_configurable() {
    let issuer = issuer();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .session(issuer)
        .session_cookie(
            SessionCookie::new()
                .name("sid")
                .path("/app")
                .domain("example.com")
                .same_site(SameSite::Strict)
                .csrf_cookie_name("csrf")
                .insecure(),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/login",
            post(|| async { SetSession::new(&json!({ "sub": "bob" })) }),
        )
        .route("/logout", post(|| async { ClearSession }))
        .layer(layer);
    let answer = send(app.clone(), request(Method::POST, "/login", &[])).await;
    let cookies = set_cookies(&answer);
    assert!(
        cookies[0].starts_with("sid=")
            && cookies[0].ends_with(
                "; HttpOnly; SameSite=Strict; Path=/app; Domain=example.com; Max-Age=900"
            ),
        "{}",
        cookies[0]
    );
    assert!(
        cookies[1].starts_with("csrf=")
            && cookies[1]
                .ends_with("; SameSite=Strict; Path=/app; Domain=example.com; Max-Age=900"),
        "{}",
        cookies[1]
    );
    let answer = send(app, request(Method::POST, "/logout", &[])).await;
    assert_eq!(
        set_cookies(&answer),
        [
            "sid=; HttpOnly; SameSite=Strict; Path=/app; Domain=example.com; Max-Age=0",
            "csrf=; SameSite=Strict; Path=/app; Domain=example.com; Max-Age=0",
        ]
    );
}

#[test]
fn bad_session_cookies_are_refused_at_build() {
    let build = |cookie: SessionCookie| {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .session(issuer())
            .session_cookie(cookie)
            .build()
            .map(|_| ())
    };
    let refused = |cookie: SessionCookie| {
        let result = build(cookie);
        assert!(
            matches!(
                result,
                Err(ConfigError::InvalidSessionCookie(_)) | Err(ConfigError::InvalidCookieName)
            ),
            "{result:?}"
        );
    };
    refused(SessionCookie::new().same_site(SameSite::None).insecure());
    refused(SessionCookie::new().sliding(0.0));
    refused(SessionCookie::new().sliding(1.0));
    refused(SessionCookie::new().sliding(f64::NAN));
    refused(SessionCookie::new().path("app"));
    refused(SessionCookie::new().path("/a;b"));
    refused(SessionCookie::new().domain("a b"));
    refused(SessionCookie::new().name("a=b"));
    refused(SessionCookie::new().csrf_cookie_name(""));
    assert!(build(SessionCookie::new().same_site(SameSite::None)).is_ok());
    assert!(build(SessionCookie::new().sliding(0.5)).is_ok());

    // The cookie the layer reads and the one it writes must be the same.
    let mismatch = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .session(issuer())
        .session_cookie(SessionCookie::new().name("sid"))
        .build();
    assert!(
        matches!(mismatch, Err(ConfigError::InvalidSessionCookie(_))),
        "{mismatch:?}"
    );
}

#[tokio::test]
async fn claims_that_are_not_an_object_are_a_server_error() {
    let issuer = issuer();
    let app = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let answer = send(app, request(Method::POST, "/bad-login", &[])).await;
    assert_eq!(answer.status, 500);
    assert!(answer.raw.is_empty());
    assert!(set_cookies(&answer).is_empty());
}

#[tokio::test]
async fn unsafe_cookie_requests_need_the_csrf_token() {
    let issuer = issuer();
    let app = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let session = login(&app).await;
    let cookie = format!("auth={}", session.token);
    let wrong = URL_SAFE_NO_PAD.encode([7u8; 32]);

    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for headers in [
            vec![("cookie", cookie.as_str())],
            vec![
                ("cookie", cookie.as_str()),
                ("x-csrf-token", wrong.as_str()),
            ],
            vec![
                ("cookie", cookie.as_str()),
                ("x-xsrf-token", "not base64 !"),
            ],
            vec![("cookie", cookie.as_str()), ("x-csrf-token", "")],
            // The auth token itself is not the CSRF token.
            vec![
                ("cookie", cookie.as_str()),
                ("x-csrf-token", session.token.as_str()),
            ],
        ] {
            let answer = send(app.clone(), request(method.clone(), "/me", &headers)).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {headers:?}");
            assert_eq!(
                answer.body,
                json!({
                    "code": "invalid_csrf_token",
                    "description": "CSRF token missing or incorrect."
                })
            );
            assert_eq!(answer.headers["content-type"], "application/json");
            assert!(answer.headers.get("www-authenticate").is_none());
        }
        for header in ["x-csrf-token", "x-xsrf-token"] {
            let answer = send(
                app.clone(),
                request(
                    method.clone(),
                    "/me",
                    &[("cookie", &cookie), (header, &session.csrf)],
                ),
            )
            .await;
            assert_eq!(answer.status, 200, "{method} {header}");
            assert_eq!(answer.body["sub"], "alice");
        }
    }
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let answer = send(
            app.clone(),
            request(method.clone(), "/me", &[("cookie", &cookie)]),
        )
        .await;
        assert_eq!(answer.status, 200, "{method}");
    }
}

#[tokio::test]
async fn a_csrf_token_is_bound_to_its_session() {
    let issuer = issuer();
    let app = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let first = login(&app).await;
    let second = login(&app).await;
    assert_ne!(first.csrf, second.csrf);
    let answer = send(app, post_with_session("/me", &first.token, &second.csrf)).await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn layers_sharing_an_issuer_agree_on_csrf_tokens_and_others_do_not() {
    let issuer = issuer();
    let app_a = app(&issuer, cookie_layer(&issuer).build().unwrap());
    let session = login(&app_a).await;
    let cookie = format!("auth={}", session.token);
    let headers = [
        ("cookie", cookie.as_str()),
        ("x-csrf-token", session.csrf.as_str()),
    ];

    // Another layer, another process's worth of state, the same issuer key: accepted.
    let other_layer = cookie_layer(&issuer).build().unwrap();
    let app_b = app(&issuer, other_layer);
    assert_eq!(
        send(app_b, request(Method::POST, "/me", &headers))
            .await
            .status,
        200
    );

    // A layer whose CSRF secret is another: refused.
    let foreign = cookie_layer(&issuer)
        .csrf_secret(b"a different csrf secret, thirty-two bytes or more")
        .build()
        .unwrap();
    let app_c = app(&issuer, foreign);
    assert_eq!(
        send(app_c, request(Method::POST, "/me", &headers))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn bearer_requests_and_disabled_protection_need_no_csrf_token() {
    let issuer = issuer();
    let either = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::header_or_cookie())
        .session(issuer.clone())
        .build()
        .unwrap();
    let app_either = app(&issuer, either);
    let session = login(&app_either).await;
    let bearer = format!("Bearer {}", session.token);
    let answer = send(
        app_either.clone(),
        request(Method::POST, "/me", &[("authorization", &bearer)]),
    )
    .await;
    assert_eq!(answer.status, 200);
    let cookie = format!("auth={}", session.token);
    let answer = send(
        app_either,
        request(Method::POST, "/me", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(answer.status, 403, "the cookie still needs it");

    let unprotected = cookie_layer(&issuer)
        .csrf_protection(false)
        .build()
        .unwrap();
    let app_off = app(&issuer, unprotected);
    let answer = send(
        app_off,
        request(Method::POST, "/me", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_cookie_layer_without_a_session_refuses_unsafe_requests() {
    // A cookie layer without a session (tokens come from elsewhere): no XSRF-TOKEN was ever
    // handed out, so unsafe cookie requests are refused whatever they send.
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", post(|| async { "ok" }).get(|| async { "ok" }))
        .layer(layer);
    let token = hs256(&json!({ "sub": "x", "exp": now() + 60 }));
    let cookie = format!("auth={token}");
    let guess = URL_SAFE_NO_PAD.encode([0u8; 32]);
    let answer = send(app.clone(), post_with_session("/", &token, &guess)).await;
    assert_eq!(answer.status, 403);
    let answer = send(app, request(Method::GET, "/", &[("cookie", &cookie)])).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn sliding_sessions_are_renewed_past_their_share() {
    let clock = Arc::new(AtomicU64::new(now()));
    let start = clock.load(Ordering::SeqCst);
    let issuer = issuer_at(clock.clone(), 100);
    let read = clock.clone();
    let cookie_layer = cookie_layer(&issuer)
        .session_cookie(SessionCookie::new().sliding(0.5))
        .clock(move || read.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let app = app(&issuer, cookie_layer);
    let session = login(&app).await;
    let cookie = format!("auth={}", session.token);
    let old = payload(&session.token);

    clock.store(start + 49, Ordering::SeqCst);
    let answer = send(
        app.clone(),
        request(Method::GET, "/me", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(
        set_cookies(&answer).is_empty(),
        "not due before half its life"
    );

    clock.store(start + 50, Ordering::SeqCst);
    let answer = send(
        app.clone(),
        request(Method::GET, "/me", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(answer.status, 200);
    let cookies = set_cookies(&answer);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let renewed = cookies[0]
        .strip_prefix("auth=")
        .and_then(|rest| rest.strip_suffix("; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=100"))
        .unwrap();
    assert!(cookies[1].starts_with("XSRF-TOKEN="));
    let new = payload(renewed);
    assert_eq!(new["sub"], old["sub"]);
    assert_eq!(new["roles"], old["roles"]);
    assert_ne!(new["jti"], old["jti"]);
    assert_eq!(new["iat"], json!(start + 50));
    assert_eq!(new["exp"], json!(start + 150));

    // Not on a refusal or an error of the handler, nor for a bearer request.
    let answer = send(
        app.clone(),
        request(Method::GET, "/missing", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert!(set_cookies(&answer).is_empty());
    let answer = send(
        app.clone(),
        request(Method::POST, "/me", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(answer.status, 403);
    assert!(set_cookies(&answer).is_empty());
}

#[tokio::test]
async fn sliding_ignores_header_tokens() {
    let clock = Arc::new(AtomicU64::new(now()));
    let start = clock.load(Ordering::SeqCst);
    let issuer = issuer_at(clock.clone(), 100);
    let read = clock.clone();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::header_or_cookie())
        .session(issuer.clone())
        .session_cookie(SessionCookie::new().sliding(0.5))
        .clock(move || read.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let app = app(&issuer, layer);
    let session = login(&app).await;
    clock.store(start + 90, Ordering::SeqCst);
    let bearer = format!("Bearer {}", session.token);
    let answer = send(
        app,
        request(Method::GET, "/me", &[("authorization", &bearer)]),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(set_cookies(&answer).is_empty());
}

#[test]
fn an_insecure_session_cookie_is_warned_about_at_build() {
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let build = |cookie: SessionCookie| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let _ = JwtLayer::builder()
                .key(Key::hmac(SECRET))
                .session(issuer())
                .session_cookie(cookie)
                .build()
                .unwrap();
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    };
    let logged = build(SessionCookie::new().insecure());
    assert!(logged.contains("WARN"), "{logged}");
    assert!(
        logged.contains("session cookies without Secure"),
        "{logged}"
    );
    assert!(build(SessionCookie::new()).is_empty());
}
