//! `Sessions` with `MemoryRefreshStore`: login, rotation, reuse detection, expiry, concurrent
//! rotation, logout through a real layer and revocation store, `rotate_with`, and the responses
//! of the token endpoint byte for byte.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tower_jwt_auth::{
    Claims, JwtLayer, Key,
    error::{ConfigError, IssueError, SessionError},
    issuer::{JwtIssuer, SigningKey},
    refresh::{
        Consumed, DEFAULT_REFRESH_LIFETIME, MemoryRefreshStore, RefreshRecord, RefreshStore,
        Rotation, Sessions,
    },
    revocation::{MemoryRevocationStore, TokenFacts},
};

const DAY: u64 = 24 * 60 * 60;

fn issuer(clock: &TestClock) -> JwtIssuer {
    JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .issuer("https://auth.example.com")
        .clock(clock.reader())
        .build()
        .unwrap()
}

fn sessions_with(clock: &TestClock, store: MemoryRefreshStore) -> Sessions {
    Sessions::builder(issuer(clock), store).build().unwrap()
}

fn sessions(clock: &TestClock) -> Sessions {
    sessions_with(clock, MemoryRefreshStore::default())
}

fn alice() -> Value {
    json!({ "sub": "alice", "roles": ["admin"] })
}

fn is_refresh_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn response_parts(
    response: axum::response::Response,
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn login_then_rotate_twice_keeps_the_family_subject_and_claims() {
    let clock = TestClock::at(1_700_000_000);
    let sessions = sessions(&clock);
    let first = sessions.login(&alice()).await.unwrap();
    assert!(is_refresh_token(first.refresh_token()));
    assert_eq!(first.expires_in(), 900);
    let claims = payload(first.access_token());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["iss"], "https://auth.example.com");
    assert_eq!(claims["jti"], first.jti());

    clock.advance(600);
    let second = sessions.rotate(first.refresh_token()).await.unwrap();
    clock.advance(600);
    let third = sessions.rotate(second.refresh_token()).await.unwrap();
    for pair in [&second, &third] {
        assert_eq!(pair.family(), first.family());
        let claims = payload(pair.access_token());
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["roles"], json!(["admin"]));
    }
    assert_eq!(payload(third.access_token())["iat"], 1_700_001_200);
    let tokens = [
        first.refresh_token(),
        second.refresh_token(),
        third.refresh_token(),
    ];
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2] && tokens[0] != tokens[2]);
    assert!(first.jti() != second.jti() && second.jti() != third.jti());
}

#[tokio::test]
async fn each_login_starts_its_own_family() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let a = sessions.login(&alice()).await.unwrap();
    let b = sessions.login(&alice()).await.unwrap();
    assert_ne!(a.family(), b.family());
    assert_eq!(URL_SAFE_NO_PAD.decode(a.family()).unwrap().len(), 16);
}

#[tokio::test]
async fn registered_claims_given_at_login_are_not_carried_into_renewed_tokens() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let pair = sessions
        .login(&json!({
            "sub": "alice", "exp": 1, "iat": 1, "nbf": 1, "jti": "x", "aud": "stale",
            "iss": "stale", "tenant": "acme"
        }))
        .await
        .unwrap();
    clock.advance(10);
    let next = sessions.rotate(pair.refresh_token()).await.unwrap();
    let claims = payload(next.access_token());
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["exp"], 1_000_910);
    assert_eq!(claims["iss"], "https://auth.example.com");
    assert!(claims.get("nbf").is_none() && claims.get("aud").is_none());
    assert_ne!(claims["jti"], "x");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family_so_the_rotated_token_stops_working() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let stolen = sessions.login(&alice()).await.unwrap();
    // The legitimate client rotates...
    let legit = sessions.rotate(stolen.refresh_token()).await.unwrap();
    // ...then the thief replays the old token.
    let replay = sessions.rotate(stolen.refresh_token()).await.unwrap_err();
    assert!(matches!(replay, SessionError::RefreshReused), "{replay:?}");
    // The whole family is gone, the legitimate client's current token included.
    let error = sessions.rotate(legit.refresh_token()).await.unwrap_err();
    assert!(matches!(error, SessionError::InvalidGrant), "{error:?}");
    // Replaying again still says reused.
    let again = sessions.rotate(stolen.refresh_token()).await.unwrap_err();
    assert!(matches!(again, SessionError::RefreshReused), "{again:?}");
    // Another login of the same user is not affected.
    let other = sessions.login(&alice()).await.unwrap();
    sessions.rotate(other.refresh_token()).await.unwrap();
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_and_rotation_does_not_extend_the_family() {
    let clock = TestClock::at(1_000_000);
    let sessions = Sessions::builder(issuer(&clock), MemoryRefreshStore::default())
        .refresh_lifetime(Duration::from_secs(10 * DAY))
        .build()
        .unwrap();
    let pair = sessions.login(&alice()).await.unwrap();
    clock.advance(9 * DAY);
    let renewed = sessions.rotate(pair.refresh_token()).await.unwrap();
    // Ten days after the login, the family ends even though its token is a day old.
    clock.advance(DAY);
    let error = sessions.rotate(renewed.refresh_token()).await.unwrap_err();
    assert!(matches!(error, SessionError::InvalidGrant), "{error:?}");
}

#[tokio::test]
async fn the_default_refresh_lifetime_is_thirty_days() {
    assert_eq!(DEFAULT_REFRESH_LIFETIME, Duration::from_secs(30 * DAY));
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let pair = sessions.login(&alice()).await.unwrap();
    clock.advance(30 * DAY - 1);
    let pair = sessions.rotate(pair.refresh_token()).await.unwrap();
    clock.advance(1);
    assert!(matches!(
        sessions.rotate(pair.refresh_token()).await,
        Err(SessionError::InvalidGrant)
    ));
}

#[tokio::test]
async fn unknown_empty_and_oversized_refresh_tokens_are_invalid_grants() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let pair = sessions.login(&alice()).await.unwrap();
    let mut tampered = pair.refresh_token().to_owned();
    tampered.replace_range(0..1, if tampered.starts_with('A') { "B" } else { "A" });
    let huge = "A".repeat(100_000);
    for token in [
        "",
        "not-a-token",
        tampered.as_str(),
        huge.as_str(),
        pair.access_token(),
    ] {
        let error = sessions.rotate(token).await.unwrap_err();
        assert!(matches!(error, SessionError::InvalidGrant), "{error:?}");
    }
    // None of those attempts touched the real token.
    sessions.rotate(pair.refresh_token()).await.unwrap();
}

#[test]
fn concurrent_rotations_of_one_token_have_exactly_one_winner() {
    let runtime = four_worker_runtime();
    runtime.block_on(async {
        let clock = TestClock::at(1_000_000);
        let sessions = sessions(&clock);
        for _ in 0..5 {
            let pair = sessions.login(&alice()).await.unwrap();
            let winners = rotate_concurrently(&sessions, pair.refresh_token()).await;
            assert_eq!(winners.len(), 1);
        }
    });
}

#[tokio::test]
async fn rotate_with_updates_the_claims_for_this_and_later_rotations() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let pair = sessions.login(&alice()).await.unwrap();
    let next = sessions
        .rotate_with(pair.refresh_token(), |subject, mut claims| async move {
            assert_eq!(subject, "alice");
            assert_eq!(Value::Object(claims.clone()), json!({ "roles": ["admin"] }));
            claims.insert("roles".into(), json!(["reader"]));
            // A callback cannot change the subject.
            claims.insert("sub".into(), json!("mallory"));
            Ok::<_, std::io::Error>(Some(claims))
        })
        .await
        .unwrap();
    let claims = payload(next.access_token());
    assert_eq!(
        (&claims["sub"], &claims["roles"]),
        (&json!("alice"), &json!(["reader"]))
    );
    let later = sessions.rotate(next.refresh_token()).await.unwrap();
    assert_eq!(payload(later.access_token())["roles"], json!(["reader"]));
}

#[tokio::test]
async fn rotate_with_refusing_a_deactivated_user_revokes_the_family() {
    let clock = TestClock::at(1_000_000);
    let store = MemoryRefreshStore::default();
    let sessions = sessions_with(&clock, store.clone());
    let pair = sessions.login(&alice()).await.unwrap();
    let error = sessions
        .rotate_with(pair.refresh_token(), |_, _| async {
            Ok::<_, std::io::Error>(None)
        })
        .await
        .unwrap_err();
    assert!(matches!(error, SessionError::Refused), "{error:?}");

    // Any other token of that family, present or future, is refused by the store.
    let sibling: RefreshRecord = serde_json::from_value(json!({
        "token_hash": "sibling", "subject": "alice", "family": pair.family(),
        "family_issued_at": 1_000_000, "issued_at": 1_000_000, "expires_at": 2_000_000,
        "claims": {}
    }))
    .unwrap();
    store.insert(&sibling).await.unwrap();
    assert_eq!(
        rotate_in_store(&store, "sibling", (pair.family(), "alice"), 1_000_001).await,
        Consumed::Revoked
    );
}

#[tokio::test]
async fn a_failing_renewal_callback_fails_closed_as_unavailable() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let pair = sessions.login(&alice()).await.unwrap();
    let error = sessions
        .rotate_with(pair.refresh_token(), |_, _| async {
            Err::<Option<Map<String, Value>>, _>(std::io::Error::other("database down"))
        })
        .await
        .unwrap_err();
    assert!(matches!(error, SessionError::Unavailable(_)), "{error:?}");
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn login_needs_a_string_subject_and_an_object() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    for claims in [json!({}), json!({ "sub": 42 }), json!({ "sub": null })] {
        let error = sessions.login(&claims).await.unwrap_err();
        assert!(matches!(error, SessionError::MissingSubject), "{claims}");
    }
    let error = sessions.login(&json!(["alice"])).await.unwrap_err();
    assert!(
        matches!(error, SessionError::Issue(IssueError::ClaimsNotObject)),
        "{error:?}"
    );
}

#[test]
fn a_zero_refresh_lifetime_or_backend_timeout_is_refused() {
    let clock = TestClock::at(1);
    let build = |lifetime, timeout| {
        Sessions::builder(issuer(&clock), MemoryRefreshStore::default())
            .refresh_lifetime(lifetime)
            .backend_timeout(timeout)
            .build()
            .map(|_| ())
    };
    assert_eq!(
        build(Duration::ZERO, Duration::from_secs(1)),
        Err(ConfigError::ZeroLifetime("refresh token"))
    );
    assert_eq!(
        build(Duration::from_secs(60), Duration::ZERO),
        Err(ConfigError::ZeroBackendTimeout)
    );
}

#[tokio::test]
async fn the_store_keeps_only_the_hash_of_a_refresh_token() {
    let clock = TestClock::at(1_000_000);
    let store = MemoryRefreshStore::default();
    let sessions = sessions_with(&clock, store.clone());
    let pair = sessions.login(&alice()).await.unwrap();
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(pair.refresh_token().as_bytes()));
    let record = store.find(&hash, 1_000_000).await.unwrap().unwrap();
    assert_eq!(record.token_hash(), hash);
    assert_eq!(record.subject(), "alice");
    assert_eq!(record.family(), pair.family());
    assert_eq!(record.expires_at(), 1_000_000 + 30 * DAY);
    assert_eq!(
        Value::Object(record.claims().clone()),
        json!({ "roles": ["admin"] })
    );
    let stored = serde_json::to_string(&record).unwrap();
    assert!(!stored.contains(pair.refresh_token()));
    assert!(
        store
            .find(pair.refresh_token(), 1_000_000)
            .await
            .unwrap()
            .is_none()
    );
    let shown = format!("{record:?} {pair:?} {sessions:?}");
    assert!(!shown.contains(pair.refresh_token()), "{shown}");
    assert!(!shown.contains(pair.access_token()), "{shown}");
    assert!(!shown.contains("admin"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Through a real layer

/// A token endpoint and a protected app: `POST /login`, `POST /token` (the refresh token as the
/// body), `POST /logout` (behind the layer; the refresh token as the body), `GET /` (behind the
/// layer).
fn token_app(sessions: Sessions, revocations: MemoryRevocationStore) -> Router {
    let layer = access_token_layer(revocations);
    let (login, refresh, logout) = (sessions.clone(), sessions.clone(), sessions);
    let protected = Router::new()
        .route(
            "/",
            get(|Claims(c): Claims| async move { c.subject().unwrap_or("").to_owned() }),
        )
        .route(
            "/logout",
            post(move |facts: TokenFacts, body: String| async move {
                let refresh = (!body.is_empty()).then_some(body.as_str());
                logout
                    .logout(&facts, refresh)
                    .await
                    .map(|()| StatusCode::NO_CONTENT)
            }),
        )
        .layer(layer);
    Router::new()
        .route(
            "/login",
            post(move || async move { login.login(&alice()).await }),
        )
        .route(
            "/token",
            post(move |body: String| async move { refresh.rotate(&body).await }),
        )
        .merge(protected)
}

fn post_request(path: &str, bearer: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(path);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn the_token_pair_answers_the_oauth_json_body_with_no_store() {
    let sessions = Sessions::builder(
        JwtIssuer::builder()
            .key(SigningKey::hmac(SECRET))
            .build()
            .unwrap(),
        MemoryRefreshStore::default(),
    )
    .build()
    .unwrap();
    let app = token_app(sessions, MemoryRevocationStore::default());
    let answer = send(app, post_request("/login", None, "")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "no-store");
    let access = answer.body["access_token"].as_str().unwrap();
    let refresh = answer.body["refresh_token"].as_str().unwrap();
    let expected = format!(
        r#"{{"access_token":"{access}","refresh_token":"{refresh}","token_type":"Bearer","expires_in":900}}"#
    );
    assert_eq!(String::from_utf8(answer.raw.clone()).unwrap(), expected);
}

#[tokio::test]
async fn logout_revokes_the_access_token_at_the_layer_and_the_refresh_family() {
    let revocations = MemoryRevocationStore::default();
    let sessions = sessions_revoking_in(&revocations);
    let app = token_app(sessions.clone(), revocations);
    let login = send(app.clone(), post_request("/login", None, "")).await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    // A second session of the same user, rotated once, survives this logout.
    let other = sessions.login(&alice()).await.unwrap();

    let me = send(app.clone(), bearer(&access)).await;
    assert_eq!(
        (me.status, me.raw.as_slice()),
        (StatusCode::OK, &b"alice"[..])
    );
    let logout = send(
        app.clone(),
        post_request("/logout", Some(&access), &refresh),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    send(app.clone(), bearer(&access))
        .await
        .assert_rejected(401, "invalid_token", "jwt revoked");
    let refused = send(app.clone(), post_request("/token", None, &refresh)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.raw,
        br#"{"code":"invalid_grant","description":"Invalid refresh token."}"#
    );
    sessions.rotate(other.refresh_token()).await.unwrap();
}

fn sessions_revoking_in(revocations: &MemoryRevocationStore) -> Sessions {
    Sessions::builder(
        JwtIssuer::builder()
            .key(SigningKey::hmac(SECRET))
            .build()
            .unwrap(),
        MemoryRefreshStore::default(),
    )
    .revocations(revocations.clone())
    .build()
    .unwrap()
}

/// A login through `app` and one rotation: the (access, refresh) pair of each.
async fn login_and_rotate(app: &Router) -> [(String, String); 2] {
    let pair = |answer: &Answer| {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let field = |name: &str| answer.body[name].as_str().unwrap().to_owned();
        (field("access_token"), field("refresh_token"))
    };
    let login = pair(&send(app.clone(), post_request("/login", None, "")).await);
    let rotated = pair(&send(app.clone(), post_request("/token", None, &login.1)).await);
    [login, rotated]
}

/// Reuse detection ends the whole login: the access tokens issued with the family's refresh
/// tokens (A0 at login, A1 at the rotation) stop working too, not only the refresh tokens.
#[tokio::test]
async fn a_reused_refresh_token_ends_the_logins_access_tokens_too() {
    let revocations = MemoryRevocationStore::default();
    let sessions = sessions_revoking_in(&revocations);
    let app = token_app(sessions.clone(), revocations);
    let [(a0, r0), (a1, _)] = login_and_rotate(&app).await;
    assert_eq!(payload(&a0)["sid"], payload(&a1)["sid"]);
    // Another login of the same user, which the reuse must not end.
    let other = sessions.login(&alice()).await.unwrap();
    for token in [&a0, &a1, &other.access_token().to_owned()] {
        assert_eq!(send(app.clone(), bearer(token)).await.status, 200);
    }

    let replay = send(app.clone(), post_request("/token", None, &r0)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    for token in [&a0, &a1] {
        send(app.clone(), bearer(token))
            .await
            .assert_rejected(401, "invalid_token", "jwt revoked");
    }
    assert_eq!(
        send(app.clone(), bearer(other.access_token())).await.status,
        200
    );
}

/// A logout that names no refresh token still ends the login: its `sid` names the family.
#[tokio::test]
async fn logout_with_the_access_token_alone_ends_its_refresh_tokens_and_siblings() {
    let revocations = MemoryRevocationStore::default();
    let sessions = sessions_revoking_in(&revocations);
    let app = token_app(sessions.clone(), revocations);
    let [(a0, _), (a1, r1)] = login_and_rotate(&app).await;

    let logout = send(app.clone(), post_request("/logout", Some(&a1), "")).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    for token in [&a0, &a1] {
        send(app.clone(), bearer(token))
            .await
            .assert_rejected(401, "invalid_token", "jwt revoked");
    }
    let refused = send(app.clone(), post_request("/token", None, &r1)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.raw,
        br#"{"code":"invalid_grant","description":"Invalid refresh token."}"#
    );
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_and_access_token_of_the_subject() {
    let revocations = MemoryRevocationStore::default();
    let clock = TestClock::at(now());
    let sessions = Sessions::builder(issuer(&clock), MemoryRefreshStore::default())
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .typ("at+jwt")
        .clock(clock.reader())
        .revocations(revocations)
        .build()
        .unwrap();
    let a = sessions.login(&alice()).await.unwrap();
    let b = sessions.login(&alice()).await.unwrap();
    let bob = sessions.login(&json!({ "sub": "bob" })).await.unwrap();
    sessions.logout_everywhere("alice").await.unwrap();
    for pair in [&a, &b] {
        try_token(layer.clone(), pair.access_token())
            .await
            .assert_rejected(401, "invalid_token", "jwt revoked");
        assert!(matches!(
            sessions.rotate(pair.refresh_token()).await,
            Err(SessionError::InvalidGrant)
        ));
    }
    try_token(layer.clone(), bob.access_token())
        .await
        .assert_user(Some("bob"));
    sessions.rotate(bob.refresh_token()).await.unwrap();
    // A login after the logout works.
    clock.advance(1);
    let fresh = sessions.login(&alice()).await.unwrap();
    try_token(layer, fresh.access_token())
        .await
        .assert_user(Some("alice"));
    sessions.rotate(fresh.refresh_token()).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The token endpoint's error table

async fn assert_response(error: SessionError, status: u16, body: &[u8], headers: &[(&str, &str)]) {
    let (actual_status, actual_headers, actual_body) = response_parts(error.into_response()).await;
    assert_eq!(actual_status.as_u16(), status);
    assert_eq!(
        String::from_utf8_lossy(&actual_body),
        String::from_utf8_lossy(body)
    );
    let mut names: Vec<&str> = actual_headers.keys().map(|name| name.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "exactly these headers");
    for (name, value) in headers {
        assert_eq!(actual_headers[*name], *value, "{name}");
    }
}

#[tokio::test]
async fn session_errors_render_byte_for_byte() {
    let json_400 = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ];
    assert_response(
        SessionError::InvalidGrant,
        400,
        br#"{"code":"invalid_grant","description":"Invalid refresh token."}"#,
        &json_400,
    )
    .await;
    assert_response(
        SessionError::RefreshReused,
        400,
        br#"{"code":"invalid_grant","description":"Refresh token already used; the session is revoked."}"#,
        &json_400,
    )
    .await;
    assert_response(
        SessionError::Refused,
        400,
        br#"{"code":"invalid_grant","description":"The session can no longer be renewed."}"#,
        &json_400,
    )
    .await;
    assert_response(
        SessionError::Unavailable("redis: connection refused".into()),
        503,
        br#"{"code":"temporarily_unavailable","description":"Authentication backend unavailable."}"#,
        &[("content-type", "application/json"), ("retry-after", "5")],
    )
    .await;
    assert_response(SessionError::MissingSubject, 500, b"", &[]).await;
    assert_response(SessionError::Issue(IssueError::Random), 500, b"", &[]).await;
}

#[tokio::test]
async fn a_reused_token_answers_400_invalid_grant_without_echoing_it() {
    let clock = TestClock::at(1_000_000);
    let sessions = sessions(&clock);
    let pair = sessions.login(&alice()).await.unwrap();
    sessions.rotate(pair.refresh_token()).await.unwrap();
    let error = sessions.rotate(pair.refresh_token()).await.unwrap_err();
    let (status, _, body) = response_parts(error.into_response()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = String::from_utf8(body).unwrap();
    assert!(!body.contains(&pair.refresh_token()[..11]), "{body}");
    assert!(!body.contains(pair.family()), "{body}");
}

#[tokio::test]
async fn the_reuse_grace_is_off_by_default_and_kept_when_on() {
    reuse_grace_is_kept(|clock, grace| {
        Sessions::builder(issuer(clock), MemoryRefreshStore::default())
            .reuse_grace(grace)
            .build()
            .unwrap()
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Bounds: a live session or revocation is never dropped

/// One subject's flood of logins ends that subject's own oldest logins, never another
/// subject's; the store stays within its bounds.
#[tokio::test]
async fn a_flood_of_one_subjects_logins_ends_only_its_own_oldest_logins() {
    let clock = TestClock::at(1_000_000);
    let store = MemoryRefreshStore::new(100).per_subject(10);
    let sessions = sessions_with(&clock, store.clone());
    let bob = sessions.login(&json!({ "sub": "bob" })).await.unwrap();
    let mut mallory = Vec::new();
    for _ in 0..200 {
        mallory.push(sessions.login(&json!({ "sub": "mallory" })).await.unwrap());
        assert!(store.len() <= 11, "{} entries", store.len());
    }
    // Bob's login works, his next one too.
    let bob = sessions.rotate(bob.refresh_token()).await.unwrap();
    sessions.rotate(bob.refresh_token()).await.unwrap();
    // Mallory's latest logins work; her oldest ended.
    sessions
        .rotate(mallory.last().unwrap().refresh_token())
        .await
        .unwrap();
    let oldest = sessions
        .rotate(mallory[0].refresh_token())
        .await
        .unwrap_err();
    assert!(matches!(oldest, SessionError::InvalidGrant), "{oldest:?}");
}

/// A login rotated more times than the subject's bound keeps working: its oldest consumed
/// tokens are forgotten, its live one never; a recent replay is still a reuse.
#[tokio::test]
async fn a_login_rotated_past_the_bound_keeps_working_and_detects_recent_reuse() {
    let clock = TestClock::at(1_000_000);
    let store = MemoryRefreshStore::new(1_000).per_subject(5);
    let sessions = sessions_with(&clock, store.clone());
    let mut pair = sessions.login(&alice()).await.unwrap();
    let first = pair.clone();
    for _ in 0..50 {
        pair = sessions.rotate(pair.refresh_token()).await.unwrap();
        assert!(store.len() <= 5, "{} entries", store.len());
    }
    // The first token was forgotten: refused, but not taken for a reuse.
    let error = sessions.rotate(first.refresh_token()).await.unwrap_err();
    assert!(matches!(error, SessionError::InvalidGrant), "{error:?}");
    let previous = pair.clone();
    let next = sessions.rotate(pair.refresh_token()).await.unwrap();
    // A recent replay is a reuse, and ends the login.
    let replay = sessions.rotate(previous.refresh_token()).await.unwrap_err();
    assert!(matches!(replay, SessionError::RefreshReused), "{replay:?}");
    assert!(sessions.rotate(next.refresh_token()).await.is_err());
}

/// A full store refuses the login (503) and keeps every session it holds.
#[tokio::test]
async fn a_full_refresh_store_refuses_the_login_with_503_and_keeps_the_others() {
    let clock = TestClock::at(1_000_000);
    let store = MemoryRefreshStore::new(3);
    let sessions = sessions_with(&clock, store.clone());
    let mut held = Vec::new();
    for user in ["a", "b", "c"] {
        held.push(sessions.login(&json!({ "sub": user })).await.unwrap());
    }
    let error = sessions.login(&json!({ "sub": "d" })).await.unwrap_err();
    assert!(matches!(error, SessionError::Unavailable(_)), "{error:?}");
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    for pair in &held {
        assert_eq!(
            store
                .find(
                    &URL_SAFE_NO_PAD.encode(Sha256::digest(pair.refresh_token())),
                    1_000_001
                )
                .await
                .unwrap()
                .map(|record| record.family().to_owned()),
            Some(pair.family().to_owned())
        );
    }
}

/// A renewal the application refuses (the user was deactivated) ends the login whole: its
/// refresh tokens and, with a revocation store, its access tokens.
#[tokio::test]
async fn a_refused_renewal_ends_the_logins_access_tokens_too() {
    let revocations = MemoryRevocationStore::default();
    let sessions = sessions_revoking_in(&revocations);
    let app = token_app(sessions.clone(), revocations);
    let [(a0, _), (a1, r1)] = login_and_rotate(&app).await;
    let refused = sessions
        .rotate_with(&r1, |_, _| async { Ok::<_, std::io::Error>(None) })
        .await
        .unwrap_err();
    assert!(matches!(refused, SessionError::Refused), "{refused:?}");
    for token in [&a0, &a1] {
        send(app.clone(), bearer(token))
            .await
            .assert_rejected(401, "invalid_token", "jwt revoked");
    }
}

/// A rotation that reaches the store after its deadline (the caller has answered with a
/// failure by then) changes nothing: the presented token rotates normally afterwards, and the
/// late successor was never stored.
#[tokio::test]
async fn a_rotation_past_its_deadline_is_refused_and_applies_nothing() {
    let clock = TestClock::at(1_000_000);
    let store = MemoryRefreshStore::default();
    let sessions = sessions_with(&clock, store.clone());
    let pair = sessions.login(&alice()).await.unwrap();
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(pair.refresh_token()));
    let successor: RefreshRecord = serde_json::from_value(json!({
        "token_hash": "late-successor", "subject": "alice", "family": pair.family(),
        "family_issued_at": 1_000_000, "issued_at": 1_000_000, "expires_at": 2_000_000,
        "claims": {}
    }))
    .unwrap();
    let late = Rotation {
        token_hash: &hash,
        successor: &successor,
        now: 1_000_000,
        deadline_ms: 0,
        reuse_grace: Duration::ZERO,
    };
    assert!(store.rotate(&late).await.is_err());
    assert_eq!(store.find("late-successor", 1_000_000).await.unwrap(), None);
    // The token is as it was: it rotates, and only once.
    let next = sessions.rotate(pair.refresh_token()).await.unwrap();
    assert_eq!(next.family(), pair.family());
    assert!(matches!(
        sessions.rotate(pair.refresh_token()).await,
        Err(SessionError::RefreshReused)
    ));
}
