//! The demo server (`cargo run -p tower-jwt-auth-demo`), run as a real process on 127.0.0.1 and
//! driven with a real HTTP client (`cargo test -p tower-jwt-auth-demo`, which builds it first).

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde_json::{Value, json};
use support::{
    Demo, Reply, Squatter, call, send, start_demo, start_demo_from, start_demo_naming_its_port,
    start_demo_with,
};

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
    next_second().await;
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

// The session cookie, refresh tokens, CSRF and the page.

const INVALID_CSRF: &str =
    r#"{"code":"invalid_csrf_token","description":"CSRF token missing or incorrect."}"#;

/// The value of a `Set-Cookie` header for the cookie `name`.
fn cookie_value<'a>(set_cookie: &'a str, name: &str) -> &'a str {
    let rest = set_cookie
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('='))
        .unwrap_or_else(|| panic!("{set_cookie:?} does not set {name}"));
    rest.split(';').next().unwrap()
}

/// A login as the page makes it: the token pair and the two session cookies.
struct BrowserLogin {
    pair: Value,
    auth: String,
    xsrf: String,
}

impl BrowserLogin {
    /// The `Cookie` header a browser sends back.
    fn cookie(&self) -> String {
        format!("auth={}; XSRF-TOKEN={}", self.auth, self.xsrf)
    }

    fn refresh_token(&self) -> &str {
        self.pair["refresh_token"].as_str().unwrap()
    }
}

async fn browser_login(demo: &Demo, username: &str, password: &str) -> BrowserLogin {
    let body = json!({ "username": username, "password": password });
    let url = format!("{}/auth/login", demo.base);
    let reply = send("POST", &url, &[], Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    BrowserLogin {
        auth: cookie_value(cookies[0], "auth").to_owned(),
        xsrf: cookie_value(cookies[1], "XSRF-TOKEN").to_owned(),
        pair: reply.body,
    }
}

async fn refresh(demo: &Demo, refresh_token: &str) -> Reply {
    let url = format!("{}/auth/refresh", demo.base);
    send(
        "POST",
        &url,
        &[],
        Some(json!({ "refresh_token": refresh_token })),
    )
    .await
}

fn assert_invalid_grant(reply: &Reply, description: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "code": "invalid_grant", "description": description })
    );
}

#[tokio::test]
async fn demo_login_answers_the_token_pair_and_sets_the_session_cookies() {
    let demo = start_demo().await;
    let body = json!({ "username": "alice", "password": "alice-password" });
    let reply = send(
        "POST",
        &format!("{}/auth/login", demo.base),
        &[],
        Some(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.headers["cache-control"], "no-store");

    let pair = reply.body.as_object().unwrap();
    let mut fields: Vec<&str> = pair.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    // 256 random bits, base64url.
    assert_eq!(pair["refresh_token"].as_str().unwrap().len(), 43);

    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let auth = cookie_value(cookies[0], "auth");
    let xsrf = cookie_value(cookies[1], "XSRF-TOKEN");
    assert_eq!(
        cookies[0],
        format!("auth={auth}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=900")
    );
    assert_eq!(
        cookies[1],
        format!("XSRF-TOKEN={xsrf}; Secure; SameSite=Lax; Path=/; Max-Age=900")
    );
    // An HMAC-SHA256, base64url.
    assert_eq!(xsrf.len(), 43);

    // The cookie holds its own access token, with the same claims as the pair's.
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(
        common::jwt_part(auth, 0),
        json!({ "typ": "at+jwt", "alg": "HS256" })
    );
    assert_eq!(
        common::jwt_part(access, 0),
        json!({ "typ": "at+jwt", "alg": "HS256" })
    );
    let (mut in_cookie, mut in_pair) = (common::jwt_part(auth, 1), common::jwt_part(access, 1));
    assert_ne!(in_cookie["jti"], in_pair["jti"]);
    // Both belong to the login: the same `sid`, its refresh token family (128 random bits).
    assert_eq!(in_cookie["sid"], in_pair["sid"]);
    assert_eq!(in_pair["sid"].as_str().map(str::len), Some(22));
    for claims in [&mut in_cookie, &mut in_pair] {
        let claims = claims.as_object_mut().unwrap();
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            900
        );
        for per_token in ["jti", "iat", "exp", "sid"] {
            claims.remove(per_token).unwrap();
        }
    }
    assert_eq!(in_cookie, in_pair);
    assert_eq!(
        in_pair,
        json!({
            "sub": "alice", "username": "alice", "roles": ["user"], "scope": "users:read",
            "iss": "tower-jwt-auth-demo", "aud": "demo-api",
        })
    );

    // The browser sends the cookies back: /web/me knows who it is.
    let cookie = format!("auth={auth}; XSRF-TOKEN={xsrf}");
    let (status, me) = call(
        "GET",
        &format!("{}/web/me", demo.base),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "alice");
}

#[tokio::test]
async fn demo_inactive_user_is_refused_with_403_and_no_cookie() {
    let demo = start_demo().await;
    let url = format!("{}/auth/login", demo.base);
    let body = json!({ "username": "carol", "password": "carol-password" });
    let reply = send("POST", &url, &[], Some(body)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        json!({ "code": "inactive_user", "description": "This account is inactive." })
    );
    assert!(reply.set_cookies().is_empty());
    // Only someone who knows the password learns that the account exists.
    let (status, body) = login(&demo, "carol", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["description"], "Invalid credentials");
}

#[tokio::test]
async fn demo_web_note_needs_the_sessions_csrf_token_in_either_header() {
    let demo = start_demo().await;
    let alice = browser_login(&demo, "alice", "alice-password").await;
    let other = browser_login(&demo, "alice", "alice-password").await;
    let url = format!("{}/web/note", demo.base);
    let cookie = alice.cookie();
    let note = |text: &str| Some(json!({ "text": text }));
    let invalid_csrf: Value = serde_json::from_str(INVALID_CSRF).unwrap();

    for csrf in [
        vec![],
        vec![("x-csrf-token", "wrong")],
        vec![("x-xsrf-token", "")],
        // Another session's token, of the same user.
        vec![("x-csrf-token", other.xsrf.as_str())],
    ] {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend(csrf.iter().copied());
        let (status, body) = call("POST", &url, &headers, note("refused")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert_eq!(body, invalid_csrf, "{csrf:?}");
    }

    for (header, text) in [("x-csrf-token", "first"), ("x-xsrf-token", "second")] {
        let headers = [("cookie", cookie.as_str()), (header, alice.xsrf.as_str())];
        let (status, body) = call("POST", &url, &headers, note(text)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body, json!({ "user": "alice", "note": text }));
    }

    let headers = [
        ("cookie", cookie.as_str()),
        ("x-csrf-token", alice.xsrf.as_str()),
    ];
    let (status, body) = call("POST", &url, &headers, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_request");

    // The note route reads the cookie only.
    let bearer = format!("Bearer {}", alice.pair["access_token"].as_str().unwrap());
    let (status, body) = call("POST", &url, &[("authorization", &bearer)], note("x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["description"], "Auth cookie not found.");
}

#[tokio::test]
async fn demo_refresh_rotates_and_a_reused_token_revokes_the_login() {
    let demo = start_demo().await;
    let (_, pair) = login(&demo, "alice", "alice-password").await;
    let first = pair["refresh_token"].as_str().unwrap();

    let rotated = refresh(&demo, first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    assert_eq!(rotated.body["token_type"], "Bearer");
    assert_eq!(rotated.body["expires_in"], 900);
    let second = rotated.body["refresh_token"].as_str().unwrap();
    assert_ne!(second, first);
    let bearer = format!("Bearer {}", rotated.body["access_token"].as_str().unwrap());
    let me = format!("{}/auth/me", demo.base);
    let (status, claims) = call("GET", &me, &[("authorization", &bearer)], None).await;
    assert_eq!(status, StatusCode::OK, "{claims}");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], json!(["user"]));

    // The used token again: the whole login is revoked, the legitimately rotated token too.
    assert_invalid_grant(
        &refresh(&demo, first).await,
        "Refresh token already used; the session is revoked.",
    );
    assert_invalid_grant(&refresh(&demo, second).await, "Invalid refresh token.");
    assert_invalid_grant(
        &refresh(&demo, "not-a-refresh-token").await,
        "Invalid refresh token.",
    );
    let url = format!("{}/auth/refresh", demo.base);
    let reply = send("POST", &url, &[], Some(json!({}))).await;
    assert_invalid_grant(&reply, "Invalid refresh token.");
}

/// Waits for the system clock's next whole second. "Log out everywhere" ends every token
/// issued in its own second too: `iat` has whole seconds, so a token issued a moment before
/// the logout cannot be told from one issued a moment after, and both must end.
async fn next_second() {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let left = Duration::from_secs(since_epoch.as_secs() + 1) - since_epoch;
    tokio::time::sleep(left + Duration::from_millis(10)).await;
}

/// "Log out everywhere" ends every login of the user, refresh tokens included: an access
/// token alone would be back a moment later through `/auth/refresh`.
#[tokio::test]
async fn demo_logout_all_ends_every_login_refresh_tokens_included() {
    let demo = start_demo().await;
    let (_, phone) = login(&demo, "alice", "alice-password").await;
    let (_, laptop) = login(&demo, "alice", "alice-password").await;
    let (_, admin) = login(&demo, "admin", "admin-password").await;
    let bearer = |pair: &Value| format!("Bearer {}", pair["access_token"].as_str().unwrap());
    let refresh_token = |pair: &Value| pair["refresh_token"].as_str().unwrap().to_owned();

    let url = format!("{}/auth/logout-all", demo.base);
    let (status, body) = call("POST", &url, &[("authorization", &bearer(&laptop))], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let me = format!("{}/auth/me", demo.base);
    for pair in [&phone, &laptop] {
        let (status, body) = call("GET", &me, &[("authorization", &bearer(pair))], None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["description"], "jwt revoked");
        assert_invalid_grant(
            &refresh(&demo, &refresh_token(pair)).await,
            "Invalid refresh token.",
        );
    }
    // Another user's login is untouched.
    let (status, _) = call("GET", &me, &[("authorization", &bearer(&admin))], None).await;
    assert_eq!(status, StatusCode::OK);
    let renewed = refresh(&demo, &refresh_token(&admin)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);

    // A new login works again (from the next second on: see `next_second`).
    next_second().await;
    let (status, fresh) = login(&demo, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call("GET", &me, &[("authorization", &bearer(&fresh))], None).await;
    assert_eq!(status, StatusCode::OK);
    let renewed = refresh(&demo, &refresh_token(&fresh)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
}

#[tokio::test]
async fn demo_refresh_refuses_a_deleted_user() {
    let demo = start_demo().await;
    let (_, admin) = login(&demo, "admin", "admin-password").await;
    let admin = format!("Bearer {}", admin["access_token"].as_str().unwrap());
    let (_, alice) = login(&demo, "alice", "alice-password").await;
    let delete = format!("{}/api/users/alice", demo.base);
    let (status, _) = call("DELETE", &delete, &[("authorization", &admin)], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refresh_token = alice["refresh_token"].as_str().unwrap();
    assert_invalid_grant(
        &refresh(&demo, refresh_token).await,
        "The session can no longer be renewed.",
    );
    // The refused rotation consumed nothing (a failed rotation is never half applied): the
    // token is refused for the same reason again, not taken for a reuse.
    assert_invalid_grant(
        &refresh(&demo, refresh_token).await,
        "The session can no longer be renewed.",
    );
}

/// What the logout answers to clear both cookies.
const CLEARED: [&str; 2] = [
    "auth=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0",
    "XSRF-TOKEN=; Secure; SameSite=Lax; Path=/; Max-Age=0",
];

#[tokio::test]
async fn demo_logout_with_the_cookie_needs_csrf_then_clears_and_revokes() {
    let demo = start_demo().await;
    let alice = browser_login(&demo, "alice", "alice-password").await;
    let cookie = alice.cookie();
    let logout = format!("{}/auth/logout", demo.base);
    let web_me = format!("{}/web/me", demo.base);
    let body = Some(json!({ "refresh_token": alice.refresh_token() }));

    let refused = send("POST", &logout, &[("cookie", &cookie)], body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body,
        serde_json::from_str::<Value>(INVALID_CSRF).unwrap()
    );
    assert!(refused.set_cookies().is_empty());
    let (status, _) = call("GET", &web_me, &[("cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::OK);

    let headers = [
        ("cookie", cookie.as_str()),
        ("x-csrf-token", alice.xsrf.as_str()),
    ];
    let reply = send("POST", &logout, &headers, body).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(reply.set_cookies(), CLEARED);

    let (status, body) = call("GET", &web_me, &[("cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({ "code": "invalid_token", "description": "jwt revoked" })
    );
    assert_invalid_grant(
        &refresh(&demo, alice.refresh_token()).await,
        "Invalid refresh token.",
    );
}

#[tokio::test]
async fn demo_logout_with_a_bearer_token_revokes_it_and_its_refresh_token() {
    let demo = start_demo().await;
    let (_, pair) = login(&demo, "alice", "alice-password").await;
    let bearer = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    let refresh_token = pair["refresh_token"].as_str().unwrap();
    let logout = format!("{}/auth/logout", demo.base);

    let body = Some(json!({ "refresh_token": refresh_token }));
    let reply = send("POST", &logout, &[("authorization", &bearer)], body).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(reply.set_cookies(), CLEARED);

    let me = format!("{}/auth/me", demo.base);
    let (status, body) = call("GET", &me, &[("authorization", &bearer)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({ "code": "invalid_token", "description": "jwt revoked" })
    );
    assert_invalid_grant(
        &refresh(&demo, refresh_token).await,
        "Invalid refresh token.",
    );
}

#[tokio::test]
async fn demo_serves_a_self_contained_page_at_the_root() {
    let demo = start_demo().await;
    let page = send("GET", &format!("{}/", demo.base), &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    for id in [
        "login-form",
        "username",
        "password",
        "login-error",
        "current-user",
        "note-form",
        "note-text",
        "note-saved",
        "logout-button",
        "logout-message",
        "current-roles",
        "session-expiry",
        "admin-view",
        "users-button",
    ] {
        assert!(page.text.contains(&format!(r#"id="{id}""#)), "no #{id}");
    }
    // No framework, no CDN: nothing is loaded from elsewhere. Its one link is its icon, served
    // by the demo itself (a browser asks for /favicon.ico, a 404, without it).
    for outside in ["<script src", "http://", "https://", "@import"] {
        assert!(
            !page.text.contains(outside),
            "the page contains {outside:?}"
        );
    }
    let links: Vec<&str> = page
        .text
        .match_indices("<link")
        .map(|(at, _)| &page.text[at..])
        .collect();
    assert_eq!(links.len(), 1, "one link, the icon");
    assert!(links[0].starts_with(r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg">"#));
    let icon = send("GET", &format!("{}/favicon.svg", demo.base), &[], None).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.headers["content-type"], "image/svg+xml");
    assert!(icon.text.starts_with("<svg "));
}

/// scripts/load.sh measures these five routes against each other: they must answer the same
/// thing to the same token, and the four with auth must refuse a bad one.
#[tokio::test]
async fn demo_load_routes_answer_alike_and_the_authenticated_ones_refuse_bad_tokens() {
    let demo = start_demo().await;
    let (status, body) = login(&demo, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let (before, _) = token.rsplit_once('.').unwrap();
    let forged = format!("Bearer {before}.{}", "A".repeat(43));

    let url = |route: &str| format!("{}/load/{route}", demo.base);
    let (status, body) = call("GET", &url("open"), &[("authorization", &bearer)], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "user": null }));
    for route in ["auth", "auth-cached", "floor", "jsonwebtoken"] {
        for _ in 0..2 {
            let (status, body) =
                call("GET", &url(route), &[("authorization", &bearer)], None).await;
            assert_eq!(status, StatusCode::OK, "{route}");
            assert_eq!(body, json!({ "user": "alice" }), "{route}");
        }
        let (status, _) = call("GET", &url(route), &[("authorization", &forged)], None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{route}");
        // The layer answers 400 for a missing header, the hand-written middlewares 401.
        let (status, _) = call("GET", &url(route), &[], None).await;
        assert!(status.is_client_error(), "{route}: {status}");
    }
}

/// `/load/floor` is the least verification can do, and scripts/load.sh compares the layer with
/// it: it must check what the layer's route checks, or the comparison flatters it. Tokens
/// signed with the demo's secret, each breaking one rule of the demo's layers, are refused by
/// both (and by the `jsonwebtoken` route, except the `typ` its `Validation` does not check).
#[tokio::test]
async fn demo_floor_route_refuses_what_the_layer_refuses() {
    let demo = start_demo().await;
    let (status, body) = login(&demo, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let secret = jsonwebtoken::EncodingKey::from_secret(support::SECRET.as_bytes());
    let sign = |typ: &str, claims: &Value| {
        let header = json!({ "alg": "HS256", "typ": typ }).to_string();
        let token = common::sign_raw(
            &header,
            &claims.to_string(),
            jsonwebtoken::Algorithm::HS256,
            &secret,
        );
        format!("Bearer {token}")
    };
    let changed = |claim: &str, value: Value| {
        let mut claims = claims.clone();
        claims[claim] = value;
        sign("at+jwt", &claims)
    };
    let url = |route: &str| format!("{}/load/{route}", demo.base);

    let resigned = sign("at+jwt", &claims);
    let wrong_typ = sign("JWT", &claims);
    let wrong_audience = changed("aud", json!("https://elsewhere.example"));
    let wrong_issuer = changed("iss", json!("https://elsewhere.example"));
    let expired = changed("exp", json!(claims["iat"].as_u64().unwrap() - 120));
    for route in ["auth", "auth-cached", "floor", "jsonwebtoken"] {
        let (status, body) = call("GET", &url(route), &[("authorization", &resigned)], None).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({ "user": "alice" })),
            "{route}"
        );
        for (what, bearer) in [
            ("typ", &wrong_typ),
            ("aud", &wrong_audience),
            ("iss", &wrong_issuer),
            ("exp", &expired),
        ] {
            let (status, _) = call("GET", &url(route), &[("authorization", bearer)], None).await;
            let expected = if route == "jsonwebtoken" && what == "typ" {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(status, expected, "{route}, wrong {what}");
        }
    }
}

/// RFC 7519 NumericDates may be fractional: the demo's typed claims take them. And the demo
/// bounds lifetimes by what its issuer signs (15 minutes): a token valid for longer, or for
/// ever, is refused although its signature holds.
#[tokio::test]
async fn demo_takes_fractional_dates_and_refuses_lifetimes_over_its_own() {
    let demo = start_demo().await;
    let (status, body) = login(&demo, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let iat = claims["iat"].as_u64().unwrap();
    let secret = jsonwebtoken::EncodingKey::from_secret(support::SECRET.as_bytes());
    let with = |changes: &[(&str, Value)]| {
        let mut claims = claims.clone();
        for (claim, value) in changes {
            claims[*claim] = value.clone();
        }
        let header = json!({ "alg": "HS256", "typ": "at+jwt" }).to_string();
        let token = common::sign_raw(
            &header,
            &claims.to_string(),
            jsonwebtoken::Algorithm::HS256,
            &secret,
        );
        format!("Bearer {token}")
    };
    let me = format!("{}/auth/me", demo.base);
    let fractional = with(&[
        ("iat", json!(iat as f64 + 0.25)),
        ("exp", json!(iat as f64 + 600.5)),
    ]);
    let (status, body) = call("GET", &me, &[("authorization", &fractional)], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["exp"], json!(iat as f64 + 600.5));

    for exp in [json!(iat + 15 * 60 + 1), json!(u64::MAX), json!(1e308)] {
        let long = with(&[("exp", exp.clone())]);
        let (status, body) = call("GET", &me, &[("authorization", &long)], None).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNAUTHORIZED,
                json!({ "code": "invalid_token", "description": "jwt lifetime exceeds the maximum" })
            ),
            "exp {exp}"
        );
    }
}

/// The flood of issue 17 against the demo, with its stores made small through the environment:
/// one user logs in and out far more often than the revocation store has entries. Every token
/// stays refused once logged out, and another user is untouched.
///
/// Once the user's revocations collapse into "every token issued before now", a login in the
/// same second gets a token that is revoked already (`iat` has whole seconds): its logout
/// answers 401 `jwt revoked`, and the flood only ever hurts the one who floods.
#[tokio::test]
async fn demo_login_logout_flood_forgets_no_revocation() {
    let demo = start_demo_with(&[
        ("REVOCATION_CAPACITY", "20"),
        ("REVOCATIONS_PER_SUBJECT", "3"),
        ("REFRESH_TOKENS_PER_SUBJECT", "5"),
    ])
    .await;
    let (status, admin) = login(&demo, "admin", "admin-password").await;
    assert_eq!(status, StatusCode::OK, "{admin}");
    let admin = format!("Bearer {}", admin["access_token"].as_str().unwrap());
    let me = format!("{}/auth/me", demo.base);
    let logout = format!("{}/auth/logout", demo.base);
    let mut revoked = Vec::new();
    for i in 0..60 {
        let (status, body) = login(&demo, "alice", "alice-password").await;
        assert_eq!(status, StatusCode::OK, "login {i}: {body}");
        let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
        let (status, body) = call("POST", &logout, &[("authorization", &bearer)], None).await;
        let already_revoked =
            status == StatusCode::UNAUTHORIZED && body["description"] == "jwt revoked";
        assert!(
            status == StatusCode::NO_CONTENT || (i > 3 && already_revoked),
            "logout {i}: {status} {body}"
        );
        revoked.push(bearer);
    }
    for (i, bearer) in revoked.iter().enumerate() {
        let (status, body) = call("GET", &me, &[("authorization", bearer)], None).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNAUTHORIZED,
                json!({ "code": "invalid_token", "description": "jwt revoked" })
            ),
            "token {i}"
        );
    }
    let (status, body) = call("GET", &me, &[("authorization", &admin)], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The port picked for a demo is taken by a listener that is not the demo (it accepts
/// connections and closes them): the demo comes up on another port.
#[tokio::test]
async fn a_taken_demo_port_is_left_for_another() {
    let squatter = Squatter::start().await;
    let port = squatter.port;
    let demo = start_demo_from(Some(port)).await;
    assert_ne!(demo.base, format!("http://127.0.0.1:{port}"));
    let (status, body) = call("GET", &format!("{}/public/hello", demo.base), &[], None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "user": null })));
}

/// A demo that cannot start says why in words, naming the variable to change, and exits with a
/// failure: a taken port names `BIND`, a short secret names `JWT_SECRET`.
#[tokio::test]
async fn a_demo_that_cannot_start_names_the_variable_to_change() {
    let squatter = Squatter::start().await;
    let taken = format!("127.0.0.1:{}", squatter.port);
    for (env, says) in [
        (
            vec![("BIND", taken.as_str())],
            vec!["cannot listen on", "set BIND"],
        ),
        (
            vec![("BIND", "localhost")],
            vec!["BIND=\"localhost\" is not an address"],
        ),
        (
            vec![("BIND", "127.0.0.1:0"), ("JWT_SECRET", "short")],
            vec!["invalid JWT_SECRET: 5 bytes is too short for HS256"],
        ),
        (
            vec![
                ("BIND", "127.0.0.1:0"),
                ("REDIS_URL", "redis://127.0.0.1:1"),
                ("REDIS_CLUSTER_NODES", "redis://127.0.0.1:2"),
            ],
            vec!["REDIS_URL and REDIS_CLUSTER_NODES are both set"],
        ),
        (
            vec![
                ("BIND", "127.0.0.1:0"),
                (
                    "REDIS_CLUSTER_NODES",
                    "redis://127.0.0.1:7000, 127.0.0.1:7001",
                ),
            ],
            vec![
                "REDIS_CLUSTER_NODES",
                "\"127.0.0.1:7001\" is not a redis:// URL",
            ],
        ),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tower-jwt-auth-demo"))
            .env("JWT_SECRET", support::SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER_NODES")
            .envs(env.iter().copied())
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .expect("the demo exits")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?}: {stderr}");
        let error = stderr
            .lines()
            .find(|line| line.starts_with("error: "))
            .unwrap_or_else(|| panic!("{env:?}: {stderr}"));
        for words in says {
            assert!(error.contains(words), "{env:?}: {error}");
        }
        assert!(!error.contains("Os {"), "Debug form: {error}");
        assert!(!error.contains("short\""), "the secret: {error}");
    }
}

/// A demo signing with a key made for the run, and a second demo trusting the first through
/// OIDC discovery: tokens carry the published kid, both accept them, and a rotation through the
/// admin route is taken up by both without a restart.
#[tokio::test]
async fn a_demo_signs_with_an_asymmetric_key_that_another_demo_discovers() {
    let signer = start_demo_naming_its_port(|port| {
        vec![
            ("JWT_SECRET".into(), String::new()),
            ("JWT_SIGNING_KEY".into(), "generate".into()),
            ("JWT_ISSUER".into(), format!("http://127.0.0.1:{port}")),
        ]
    })
    .await;
    let (status, jwks) = call(
        "GET",
        &format!("{}/.well-known/jwks.json", signer.base),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let keys = jwks["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert!(keys[0].get("d").is_none(), "no private part: {jwks}");
    let (status, discovery) = call(
        "GET",
        &format!("{}/.well-known/openid-configuration", signer.base),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(discovery["issuer"], signer.base.as_str());

    let trusting = start_demo_with(&[
        ("JWT_SECRET", ""),
        ("JWT_OIDC_ISSUER", &signer.base),
        ("JWT_JWKS_COOLDOWN", "1"),
    ])
    .await;
    let me = |demo: &Demo| format!("{}/auth/me", demo.base);
    let (status, pair) = login(&signer, "admin", "admin-password").await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let token = pair["access_token"].as_str().unwrap().to_owned();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], keys[0]["kid"]);
    let bearer = format!("Bearer {token}");
    for demo in [&signer, &trusting] {
        let (status, body) = call("GET", &me(demo), &[("authorization", &bearer)], None).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", demo.base);
    }
    // The trusting demo holds no signing key.
    let (status, _) = login(&trusting, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);

    // Rotation, admins only.
    let rotate = format!("{}/admin/rotate-key", signer.base);
    let (_, alice) = login(&signer, "alice", "alice-password").await;
    let alice = format!("Bearer {}", alice["access_token"].as_str().unwrap());
    let (status, _) = call("POST", &rotate, &[("authorization", &alice)], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, rotated) = call("POST", &rotate, &[("authorization", &bearer)], None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, keys[0]["kid"].as_str().unwrap());
    assert_eq!(rotated["jwks"]["keys"].as_array().unwrap().len(), 2);
    let (_, pair) = login(&signer, "admin", "admin-password").await;
    let rotated_token = pair["access_token"].as_str().unwrap().to_owned();
    let rotated_bearer = format!("Bearer {rotated_token}");
    // Each demo finds the new kid through its refetch (the signer reads its own JWKS), once the
    // cooldown allows; the old key's token still verifies everywhere.
    for demo in [&signer, &trusting] {
        eventually_accepted(demo, &rotated_bearer).await;
        let (status, body) = call("GET", &me(demo), &[("authorization", &bearer)], None).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", demo.base);
    }
    // Retiring the old key takes it out of the published set.
    let old_kid = keys[0]["kid"].as_str().unwrap();
    let retire = format!("{}/admin/keys/{old_kid}", signer.base);
    // Once: it is no longer there to retire.
    for expected in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
        let authorization = [("authorization", rotated_bearer.as_str())];
        let (status, _) = call("DELETE", &retire, &authorization, None).await;
        assert_eq!(status, expected);
    }
    let (_, jwks) = call(
        "GET",
        &format!("{}/.well-known/jwks.json", signer.base),
        &[],
        None,
    )
    .await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new_kid.as_str());
}

/// Waits (up to 10 s) until `demo` accepts `bearer` on `/auth/me`; only 401s on the way.
async fn eventually_accepted(demo: &Demo, bearer: &str) {
    let started = std::time::Instant::now();
    loop {
        let me = format!("{}/auth/me", demo.base);
        let (status, body) = call("GET", &me, &[("authorization", bearer)], None).await;
        if status == StatusCode::OK {
            return;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}: {body}",
            demo.base
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `/openapi.json` reads as OpenAPI 3.1 with the bearer and cookie schemes, each guarded
/// operation's scopes or roles, and only operations the demo serves, as it describes them.
#[tokio::test]
async fn demo_openapi_document_describes_each_routes_security() {
    let demo = start_demo().await;
    let reply = send("GET", &format!("{}/openapi.json", demo.base), &[], None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    let spec = oas3::from_json(&reply.text).expect("a valid OpenAPI document");
    spec.validate_version().expect("OpenAPI 3.1");

    let schemes =
        serde_json::to_value(&spec.components.as_ref().unwrap().security_schemes).unwrap();
    assert_eq!(
        schemes["bearer_jwt"],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" })
    );
    assert_eq!(schemes["cookie_jwt"]["in"], "cookie");
    assert_eq!(schemes["cookie_jwt"]["name"], "auth");
    // The routes users call take DPoP tokens too.
    assert_eq!(schemes["dpop_jwt"]["in"], "header");
    assert_eq!(schemes["dpop_jwt"]["name"], "Authorization");

    let security = |method: http::Method, path: &str| -> Value {
        let operation = spec.operation(&method, path).expect(path);
        serde_json::to_value(&operation.security).unwrap()
    };
    use http::Method;
    assert_eq!(
        security(Method::GET, "/api/users"),
        json!([{ "bearer_jwt": ["users:read"] }, { "dpop_jwt": ["users:read"] }])
    );
    assert_eq!(
        security(Method::POST, "/api/users"),
        json!([{ "bearer_jwt": ["users:write"] }, { "dpop_jwt": ["users:write"] }])
    );
    assert_eq!(
        security(Method::GET, "/admin"),
        json!([{ "bearer_jwt": ["admin"] }, { "dpop_jwt": ["admin"] }])
    );
    assert_eq!(
        security(Method::POST, "/auth/logout"),
        json!([{ "bearer_jwt": [] }, { "cookie_jwt": [] }, { "dpop_jwt": [] }])
    );
    assert_eq!(
        security(Method::GET, "/public/hello"),
        json!([{ "bearer_jwt": [] }, { "dpop_jwt": [] }, {}])
    );
    assert_eq!(security(Method::POST, "/auth/login"), json!([]));

    // Every documented operation is served, and is refused without a token exactly when the
    // document says a token is required.
    let operations: Vec<(String, Method, bool)> = spec
        .operations()
        .map(|(path, method, operation)| {
            let required = !operation.security.is_empty()
                && operation
                    .security
                    .iter()
                    .all(|requirement| !requirement.0.is_empty());
            (path, method, required)
        })
        .collect();
    assert_eq!(operations.len(), 15, "{operations:?}");
    for (path, method, required) in operations {
        let url = format!(
            "{}{}",
            demo.base,
            path.replace("{username}", "dave").replace("{kid}", "k1")
        );
        let reply = send(method.as_str(), &url, &[], Some(json!({}))).await;
        assert!(
            reply.status != StatusCode::NOT_FOUND && reply.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served: {}",
            reply.status
        );
        // The layer's refusal of a request without a token.
        let refused = [
            "Authorization header not found.",
            "Auth cookie not found.",
            "Token not found.",
        ]
        .contains(&reply.body["description"].as_str().unwrap_or_default());
        assert_eq!(
            refused, required,
            "{method} {path} without a token: {} {}",
            reply.status, reply.text
        );
    }
}

#[tokio::test]
async fn demo_describes_itself_as_a_protected_resource_and_its_refusals_point_there() {
    let demo = start_demo().await;
    let metadata_url = format!("{}/.well-known/oauth-protected-resource", demo.base);
    let reply = send("GET", &metadata_url, &[], None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.body,
        json!({
            "resource": demo.base,
            "scopes_supported": ["users:read", "users:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "tower-jwt-auth demo",
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "PS256", "RS256"],
        })
    );
    let refused = send(
        "GET",
        &format!("{}/api/users", demo.base),
        &[("authorization", "Bearer not.a.token")],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.ends_with(&format!(r#"resource_metadata="{metadata_url}""#)),
        "{challenge}"
    );
}

#[path = "../../tests/common/dpop_client.rs"]
mod dpop_client;

/// A DPoP proof by `key` for `method` on `url`, with the hash of `token` when given.
fn dpop_proof(
    key: &dpop_client::ClientKey,
    method: &str,
    url: &str,
    token: Option<&str>,
) -> String {
    use sha2::Digest;
    let mut claims = json!({
        "jti": common::b64(rand_bytes()),
        "htm": method,
        "htu": url,
        "iat": common::now(),
    });
    if let Some(token) = token {
        claims["ath"] = json!(dpop_client::b64(&sha2::Sha256::digest(token.as_bytes())));
    }
    dpop_client::proof(key, &claims)
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0; 16];
    for byte in &mut bytes {
        *byte = rand::random();
    }
    bytes
}

/// RFC 9449 end to end over real HTTP: a login with a proof gets a bound pair and no cookie,
/// the protected routes take the token only with its key's proof, a refresh needs that key,
/// and a bad proof at the login is refused rather than answered with an unbound token.
#[tokio::test]
async fn demo_binds_a_login_to_its_dpop_key_from_login_to_refresh() {
    let demo = start_demo().await;
    let key = dpop_client::ClientKey::p256();
    let login_url = format!("{}/auth/login", demo.base);
    let credentials = json!({ "username": "alice", "password": "alice-password" });
    let proof = dpop_proof(&key, "POST", &login_url, None);
    let reply = send(
        "POST",
        &login_url,
        &[("dpop", &proof)],
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "DPoP");
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    let access = reply.body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = reply.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(common::payload(&access)["cnf"]["jkt"], key.jwk().1);

    // The same proof again at the login: a replay.
    let replayed = send(
        "POST",
        &login_url,
        &[("dpop", &proof)],
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    assert_eq!(replayed.body["code"], "invalid_dpop_proof");

    let me = format!("{}/auth/me", demo.base);
    let with_proof = send(
        "GET",
        &me,
        &[
            ("authorization", &format!("DPoP {access}")),
            ("dpop", &dpop_proof(&key, "GET", &me, Some(&access))),
        ],
        None,
    )
    .await;
    assert_eq!(with_proof.status, StatusCode::OK, "{}", with_proof.body);
    assert_eq!(with_proof.body["sub"], "alice");
    let as_bearer = send(
        "GET",
        &me,
        &[("authorization", &format!("Bearer {access}"))],
        None,
    )
    .await;
    assert_eq!(
        as_bearer.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        as_bearer.body
    );
    assert_eq!(as_bearer.body["description"], "jwt bound to a DPoP key");
    let thief = dpop_client::ClientKey::ed25519();
    let stolen = send(
        "GET",
        &me,
        &[
            ("authorization", &format!("DPoP {access}")),
            ("dpop", &dpop_proof(&thief, "GET", &me, Some(&access))),
        ],
        None,
    )
    .await;
    assert_eq!(stolen.status, StatusCode::UNAUTHORIZED, "{}", stolen.body);
    assert_eq!(stolen.body["description"], "DPoP key binding invalid");

    // A refresh: without a proof, or with another key's, refused and nothing used up; with
    // the key's, a new bound pair.
    let refresh_url = format!("{}/auth/refresh", demo.base);
    let body = json!({ "refresh_token": refresh_token });
    let bare = send("POST", &refresh_url, &[], Some(body.clone())).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST, "{}", bare.body);
    assert_eq!(bare.body["code"], "invalid_dpop_proof");
    let other = dpop_proof(&thief, "POST", &refresh_url, None);
    let other = send(
        "POST",
        &refresh_url,
        &[("dpop", &other)],
        Some(body.clone()),
    )
    .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", other.body);
    assert_eq!(other.body["code"], "invalid_dpop_proof");
    let proof = dpop_proof(&key, "POST", &refresh_url, None);
    let renewed = send("POST", &refresh_url, &[("dpop", &proof)], Some(body)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(renewed.body["token_type"], "DPoP");
    let next = renewed.body["access_token"].as_str().unwrap();
    assert_eq!(common::payload(next)["cnf"]["jkt"], key.jwk().1);

    // A login whose proof names another URL is refused, not answered with an unbound pair.
    let wrong = dpop_proof(&key, "POST", &format!("{}/elsewhere", demo.base), None);
    let refused = send("POST", &login_url, &[("dpop", &wrong)], Some(credentials)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(
        refused.body,
        json!({
            "code": "invalid_dpop_proof",
            "description": "invalid DPoP proof: htu does not match the request URI"
        })
    );
    // The metadata says DPoP is taken.
    let metadata = send(
        "GET",
        &format!("{}/.well-known/oauth-protected-resource", demo.base),
        &[],
        None,
    )
    .await;
    assert!(
        metadata.body["dpop_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|algs| algs.contains(&json!("ES256")))
    );
}
