//! Revocation and user lookup through the layer, with the in-memory store and with closures.
//! (`tests/revocation_redis.rs` runs the same outcomes against a real Redis.)

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;
use http::Request;
use serde_json::json;
use tower_jwt_auth::{
    CurrentUser, JwtLayer, Key,
    claims::JsonClaims,
    layer::JwtLayerBuilder,
    revocation::{MemoryRevocationStore, RevocationStore, TokenFacts},
};

fn builder() -> JwtLayerBuilder<JsonClaims> {
    JwtLayer::builder().key(Key::hmac(SECRET))
}

#[tokio::test]
async fn logout_revokes_the_presented_token_only() {
    let app = revoking_app(
        builder()
            .revocations(MemoryRevocationStore::default())
            .build()
            .unwrap(),
    );
    for jti in [Some("jti-1"), None] {
        let token = user_token("alice", jti, now() - 10);
        let other = user_token("alice", jti.map(|_| "jti-2"), now() - 5);
        assert_eq!(send(app.clone(), bearer(&token)).await.raw, b"alice");
        let answer = send(
            app.clone(),
            bearer_to(http::Method::POST, "/logout", &token),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        send(app.clone(), bearer(&token)).await.assert_rejected(
            401,
            "invalid_token",
            "jwt revoked",
        );
        assert_eq!(
            send(app.clone(), bearer(&other)).await.status,
            StatusCode::OK,
            "{jti:?}"
        );
    }
}

#[tokio::test]
async fn logout_everywhere_revokes_tokens_issued_before_it() {
    let store = MemoryRevocationStore::default();
    let layer = builder().revocations(store.clone()).build().unwrap();
    let app = revoking_app(layer);
    let old = user_token("bob", Some("old"), now() - 100);
    let bystander = user_token("carol", Some("c"), now() - 100);
    assert_eq!(
        send(
            app.clone(),
            bearer_to(http::Method::POST, "/logout-all", &old)
        )
        .await
        .status,
        204
    );
    assert_revoked(&app, &old).await;
    assert_eq!(send(app.clone(), bearer(&bystander)).await.status, 200);

    // A token issued after the moment is not revoked; one issued exactly at it is not either
    // (strictly before), nor one issued a second later.
    let facts = facts_of(&user_token("dave", Some("d"), now() - 100)).await;
    store
        .revoke_subject("dave", now() - 50, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(store.is_revoked(&facts).await.unwrap());
    for iat in [now() - 50, now() - 49] {
        let facts = facts_of(&user_token("dave", Some("e"), iat)).await;
        assert!(!store.is_revoked(&facts).await.unwrap(), "iat {iat}");
    }
}

/// The `TokenFacts` the layer builds for `token`.
async fn facts_of(token: &str) -> TokenFacts {
    let seen = Arc::new(Mutex::new(None));
    let slot = seen.clone();
    let app = Router::new()
        .route(
            "/",
            get(move |facts: TokenFacts| async move {
                *slot.lock().unwrap() = Some(facts);
            }),
        )
        .layer(
            builder()
                .revocations(MemoryRevocationStore::default())
                .build()
                .unwrap(),
        );
    assert_eq!(send(app, bearer(token)).await.status, 200);
    let facts = seen.lock().unwrap().take();
    facts.unwrap()
}

#[tokio::test]
async fn an_earlier_subject_revocation_never_shortens_a_later_one() {
    let store = MemoryRevocationStore::default();
    let ttl = Duration::from_secs(60);
    store.revoke_subject("erin", now() - 10, ttl).await.unwrap();
    store
        .revoke_subject("erin", now() - 100, ttl)
        .await
        .unwrap();
    let facts = facts_of(&user_token("erin", Some("e1"), now() - 50)).await;
    assert!(
        store.is_revoked(&facts).await.unwrap(),
        "the later moment still applies"
    );
}

#[tokio::test]
async fn fractional_exp_is_rounded_up_for_revocation() {
    let token = hs256(&json!({ "sub": "a", "exp": now() as f64 + 100.25 }));
    assert_eq!(facts_of(&token).await.exp(), now() + 101);
}

#[tokio::test]
async fn logout_answers_503_in_time_when_the_store_hangs() {
    #[derive(Clone)]
    struct Hanging;
    impl RevocationStore for Hanging {
        fn is_revoked<'a>(
            &'a self,
            _token: &'a TokenFacts,
        ) -> futures_util::future::BoxFuture<'a, Result<bool, tower_jwt_auth::error::BoxError>>
        {
            Box::pin(async { Ok(false) })
        }
        fn revoke_token<'a>(
            &'a self,
            _token: &'a TokenFacts,
            _ttl: Duration,
        ) -> futures_util::future::BoxFuture<'a, Result<(), tower_jwt_auth::error::BoxError>>
        {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            })
        }
    }
    let layer = builder()
        .revocations(Hanging)
        .backend_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let answer = send(
        revoking_app(layer),
        bearer_to(http::Method::POST, "/logout", &hs256(&claims())),
    )
    .await;
    assert_unavailable(&answer);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn clones_and_two_layers_share_one_memory_store() {
    let store = MemoryRevocationStore::default();
    let first = revoking_app(builder().revocations(store.clone()).build().unwrap());
    let second = revoking_app(builder().revocations(store).build().unwrap());
    let token = user_token("alice", Some("shared"), now() - 1);
    assert_eq!(
        send(first, bearer_to(http::Method::POST, "/logout", &token))
            .await
            .status,
        204
    );
    send(second, bearer(&token))
        .await
        .assert_rejected(401, "invalid_token", "jwt revoked");
}

#[tokio::test]
async fn memory_entries_expire_with_the_token() {
    let store = MemoryRevocationStore::default();
    let app = revoking_app(builder().revocations(store.clone()).build().unwrap());
    let token = hs256(&json!({ "sub": "alice", "jti": "short", "exp": now() + 2 }));
    let facts = facts_of(&token).await;
    assert_eq!(
        send(app, bearer_to(http::Method::POST, "/logout", &token))
            .await
            .status,
        204
    );
    assert!(store.is_revoked(&facts).await.unwrap());
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(
        !store.is_revoked(&facts).await.unwrap(),
        "the entry outlived the token"
    );
}

#[tokio::test]
async fn closure_check_sees_the_verified_facts() {
    let layer = builder()
        .revoked_if(|facts: TokenFacts| async move {
            Ok::<_, std::io::Error>(facts.jti() == Some("banned") && facts.sub() == Some("eve"))
        })
        .build()
        .unwrap();
    let app = app(layer);
    let banned = user_token("eve", Some("banned"), now() - 1);
    assert_revoked(&app, &banned).await;
    send(app, bearer(&user_token("eve", Some("fine"), now() - 1)))
        .await
        .assert_user(Some("eve"));
}

#[tokio::test]
async fn store_is_never_consulted_before_verification_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = builder()
        .revoked_if(move |_facts: TokenFacts| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(false) }
        })
        .build()
        .unwrap();
    let forged = hs256_kid(
        "x",
        b"not-the-secret-not-the-secret-not-the-secret",
        &claims(),
    );
    let expired = hs256(&json!({ "sub": "a", "exp": now() - 1 }));
    for token in [forged.as_str(), expired.as_str(), "garbage", "a.b.c"] {
        let answer = send(app(layer.clone()), bearer(token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    send(app(layer), bearer(&hs256(&claims())))
        .await
        .assert_user(Some("alice"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn assert_unavailable(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.body,
        json!({ "code": "temporarily_unavailable", "description": "Authentication backend unavailable." })
    );
    assert_eq!(answer.headers["retry-after"], "5");
    assert!(answer.headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn failing_store_fails_closed_with_503() {
    let layer = builder()
        .revoked_if(|_facts: TokenFacts| async { Err::<bool, _>(std::io::Error::other("down")) })
        .build()
        .unwrap();
    assert_unavailable(&send(app(layer), bearer(&hs256(&claims()))).await);
}

#[tokio::test]
async fn slow_store_times_out_with_503_within_the_bound() {
    let layer = builder()
        .revoked_if(|_facts: TokenFacts| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, std::io::Error>(false)
        })
        .backend_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    assert_unavailable(&send(app(layer), bearer(&hs256(&claims()))).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fail_open_lets_requests_through_when_the_store_fails() {
    let layer = builder()
        .revoked_if(|_facts: TokenFacts| async { Err::<bool, _>(std::io::Error::other("down")) })
        .revocation_fail_open()
        .build()
        .unwrap();
    send(app(layer), bearer(&hs256(&claims())))
        .await
        .assert_user(Some("alice"));
}

#[tokio::test]
async fn revoker_is_absent_when_a_closure_owns_the_list() {
    let layer = builder()
        .revoked_if(|_facts: TokenFacts| async { Ok::<_, std::io::Error>(false) })
        .build()
        .unwrap();
    let answer = send(
        revoking_app(layer),
        bearer_to(http::Method::POST, "/logout", &hs256(&claims())),
    )
    .await;
    answer.assert_misconfigured();
}

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: &'static str,
}

/// Users 1 (ann) and 2 (ben); `sub` is the numeric id as a string.
fn with_users(builder: JwtLayerBuilder<JsonClaims>) -> JwtLayer {
    builder
        .user_lookup(|sub: String| async move {
            // A sub that is not a number names no user: the lookup's 401, not a 500.
            let Ok(id) = sub.parse::<u64>() else {
                return Ok::<_, std::io::Error>(None);
            };
            Ok([User { id: 1, name: "ann" }, User { id: 2, name: "ben" }]
                .into_iter()
                .find(|user| user.id == id))
        })
        .build()
        .unwrap()
}

fn user_app(layer: JwtLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|CurrentUser(user): CurrentUser<User>| async move { user.name }),
        )
        .route(
            "/maybe",
            get(|user: Option<CurrentUser<User>>| async move {
                user.map_or("nobody", |CurrentUser(user)| user.name)
            }),
        )
        .layer(layer)
}

#[tokio::test]
async fn user_lookup_puts_the_user_into_the_request() {
    let answer = send(
        user_app(with_users(builder())),
        bearer(&user_token("2", None, now())),
    )
    .await;
    assert_eq!(
        (answer.status, answer.raw.as_slice()),
        (StatusCode::OK, b"ben".as_slice())
    );
}

#[tokio::test]
async fn subject_without_user_is_401_does_not_match() {
    for sub in ["3", "not-a-number"] {
        let answer = send(
            user_app(with_users(builder())),
            bearer(&user_token(sub, None, now())),
        )
        .await;
        answer.assert_rejected(
            401,
            "invalid_token",
            "The token subject does not match any user.",
        );
    }
}

#[tokio::test]
async fn token_without_string_subject_is_401_must_include_subject() {
    for claims in [
        json!({ "exp": now() + 60 }),
        json!({ "exp": now() + 60, "sub": 1 }),
    ] {
        let answer = send(user_app(with_users(builder())), bearer(&hs256(&claims))).await;
        answer.assert_rejected(
            401,
            "invalid_token",
            "The token must include a subject which is the id of the user.",
        );
    }
}

#[tokio::test]
async fn failing_user_lookup_is_503() {
    let layer = builder()
        .user_lookup(|_sub: String| async {
            Err::<Option<User>, _>(std::io::Error::other("db down"))
        })
        .build()
        .unwrap();
    assert_unavailable(&send(user_app(layer), bearer(&user_token("1", None, now()))).await);
}

#[tokio::test]
async fn optional_layer_without_token_has_no_current_user() {
    let app = user_app(with_users(builder().optional()));
    let request = Request::get("/maybe")
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = send(app.clone(), request).await;
    assert_eq!(answer.raw, b"nobody");
    let mut request = bearer(&user_token("1", None, now()));
    *request.uri_mut() = "/maybe".parse().unwrap();
    assert_eq!(send(app, request).await.raw, b"ann");
}

#[tokio::test]
async fn revocation_runs_before_the_user_lookup() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let store = MemoryRevocationStore::default();
    let layer = builder()
        .revocations(store.clone())
        .user_lookup(move |_sub: String| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(Some(User { id: 1, name: "ann" })) }
        })
        .build()
        .unwrap();
    let token = user_token("1", Some("r"), now() - 1);
    store
        .revoke_token(&facts_of(&token).await, Duration::from_secs(60))
        .await
        .unwrap();
    send(user_app(layer), bearer(&token)).await.assert_rejected(
        401,
        "invalid_token",
        "jwt revoked",
    );
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn revoke_route_reports_store_failure_as_503() {
    struct ReadOnly;
    impl RevocationStore for ReadOnly {
        fn is_revoked<'a>(
            &'a self,
            _token: &'a TokenFacts,
        ) -> futures_util::future::BoxFuture<'a, Result<bool, tower_jwt_auth::error::BoxError>>
        {
            Box::pin(async { Ok(false) })
        }
    }
    // A read-only source: its default revoke refuses, which the route reports as a 503.
    let app = revoking_app(builder().revocations(ReadOnly).build().unwrap());
    let answer = send(
        app,
        bearer_to(http::Method::POST, "/logout", &hs256(&claims())),
    )
    .await;
    assert_unavailable(&answer);
}

// ---------------------------------------------------------------------------------------------
// Bounds: a live revocation is never dropped
// ---------------------------------------------------------------------------------------------

/// The flood of issue 17, scaled down: one user logs in and out far more times than the store
/// holds entries. Every logout that answered 204 still holds, the store stays within its
/// bounds, and another user's revocation and live token are untouched.
#[tokio::test]
async fn a_flood_of_one_subjects_logouts_forgets_no_revocation_and_spares_others() {
    let store = MemoryRevocationStore::new(50).per_subject(4);
    let app = revoking_app(builder().revocations(store.clone()).build().unwrap());

    let alice_revoked = user_token("alice", Some("alice-1"), now() - 30);
    let alice_live = user_token("alice", Some("alice-2"), now() - 30);
    let answer = send(
        app.clone(),
        bearer_to(http::Method::POST, "/logout", &alice_revoked),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);

    let mut revoked = Vec::new();
    // Logins one after another: later tokens were issued later.
    let start = now() - 1_000;
    for i in 0..500 {
        let token = user_token("mallory", Some(&format!("m-{i}")), start + i);
        let answer = send(
            app.clone(),
            bearer_to(http::Method::POST, "/logout", &token),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "logout {i}");
        revoked.push(token);
        assert!(store.len() <= 50, "{} entries after {i}", store.len());
    }
    for token in &revoked {
        assert_revoked(&app, token).await;
    }
    // Alice's revocation held; her other token was not ended by Mallory's flood.
    assert_revoked(&app, &alice_revoked).await;
    assert_eq!(send(app.clone(), bearer(&alice_live)).await.raw, b"alice");
    // Mallory's flood costs one entry, not five hundred.
    assert!(store.len() <= 2 + 4, "{} entries", store.len());
    // A token Mallory gets after the flood works.
    let later = user_token("mallory", Some("m-after"), now());
    assert_eq!(send(app.clone(), bearer(&later)).await.status, 200);
}

/// Logins (`sid`) count against their subject's bound like tokens do.
#[tokio::test]
async fn revoked_logins_of_one_subject_collapse_too() {
    let store = MemoryRevocationStore::new(10).per_subject(2);
    let mut facts = Vec::new();
    for i in 0..20 {
        let token = hs256(&json!({
            "sub": "mallory", "sid": format!("login-{i}"), "jti": format!("j-{i}"),
            "iat": now() - 5, "exp": now() + 600,
        }));
        facts.push(facts_of(&token).await);
    }
    for (i, fact) in facts.iter().enumerate() {
        store
            .revoke_login(
                fact.sid().unwrap(),
                "mallory",
                now(),
                Duration::from_secs(600),
            )
            .await
            .unwrap_or_else(|error| panic!("login {i}: {error}"));
    }
    for fact in &facts {
        assert!(store.is_revoked(fact).await.unwrap());
    }
    assert!(store.len() <= 3, "{} entries", store.len());
}

/// When even collapsing cannot make room (too many subjects), the revocation fails visibly: the
/// logout answers 503 and an error is logged; every revocation already stored still holds.
#[tokio::test]
async fn a_full_store_refuses_the_revocation_with_503_and_keeps_the_others() {
    let store = MemoryRevocationStore::new(5).per_subject(4);
    let app = revoking_app(builder().revocations(store.clone()).build().unwrap());
    let mut revoked = Vec::new();
    for i in 0..5 {
        let token = user_token(&format!("user-{i}"), Some(&format!("j-{i}")), now() - 10);
        let answer = send(
            app.clone(),
            bearer_to(http::Method::POST, "/logout", &token),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        revoked.push(token);
    }
    // The error-level event is checked in tests/tracing_events.rs.
    let one_more = user_token("user-5", Some("j-5"), now() - 10);
    let answer = send(
        app.clone(),
        bearer_to(http::Method::POST, "/logout", &one_more),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["code"], "temporarily_unavailable");
    // Not stored, so not revoked: the client was told so and may retry.
    assert_eq!(send(app.clone(), bearer(&one_more)).await.status, 200);
    for token in &revoked {
        assert_revoked(&app, token).await;
    }
}

/// Expired entries make room: a full store takes new revocations once old ones have expired.
#[tokio::test]
async fn expired_revocations_make_room_in_a_full_store() {
    let store = MemoryRevocationStore::new(2);
    let short = Duration::from_millis(300);
    for i in 0..2 {
        let facts = facts_of(&user_token(&format!("u{i}"), Some(&format!("j{i}")), now())).await;
        store.revoke_token(&facts, short).await.unwrap();
    }
    let facts = facts_of(&user_token("u2", Some("j2"), now())).await;
    assert!(store.revoke_token(&facts, short).await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    store.revoke_token(&facts, short).await.unwrap();
    assert!(store.is_revoked(&facts).await.unwrap());
}

/// `Revoker::revoke_login` ends every token of the presented token's login (`sid`), and no
/// other; a token without `sid` is revoked alone.
#[tokio::test]
async fn revoking_a_login_ends_every_token_of_it_and_no_other() {
    use axum::routing::post;
    use tower_jwt_auth::{AuthError, revocation::Revoker};
    let layer = builder()
        .revocations(MemoryRevocationStore::default())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/logout",
            post(|revoker: Revoker, token: TokenFacts| async move {
                revoker.revoke_login(&token).await?;
                Ok::<_, AuthError>(StatusCode::NO_CONTENT)
            }),
        )
        .layer(layer);
    let token = |sid: Option<&str>, jti: &str| {
        let mut claims = json!({ "sub": "alice", "jti": jti, "iat": now(), "exp": now() + 600 });
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        hs256(&claims)
    };
    let (a1, a2, b1) = (
        token(Some("a"), "1"),
        token(Some("a"), "2"),
        token(Some("b"), "3"),
    );
    let (plain, other_plain) = (token(None, "4"), token(None, "5"));
    for presented in [&a1, &plain] {
        let answer = send(
            app.clone(),
            bearer_to(http::Method::POST, "/logout", presented),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
    }
    for revoked in [&a1, &a2, &plain] {
        send(app.clone(), bearer(revoked)).await.assert_rejected(
            401,
            "invalid_token",
            "jwt revoked",
        );
    }
    for alive in [&b1, &other_plain] {
        assert_eq!(send(app.clone(), bearer(alive)).await.status, 200);
    }
}

/// A store that answers at once, counting how often it is asked each way.
#[derive(Clone, Default)]
struct AtOnce(Arc<AtOnceState>);

/// What [`AtOnce`] answers at once: `None` for nothing, so that the layer waits.
type StoreAnswer = Option<Result<bool, String>>;

#[derive(Default)]
struct AtOnceState {
    answer: Mutex<StoreAnswer>,
    now: AtomicUsize,
    later: AtomicUsize,
}

impl std::ops::Deref for AtOnce {
    type Target = AtOnceState;

    fn deref(&self) -> &AtOnceState {
        &self.0
    }
}

// Names the crate's `BoxFuture`, where the stores above name `futures`': the same type.
impl RevocationStore for AtOnce {
    fn is_revoked<'a>(
        &'a self,
        _token: &'a TokenFacts,
    ) -> tower_jwt_auth::BoxFuture<'a, Result<bool, tower_jwt_auth::error::BoxError>> {
        self.later.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(false) })
    }

    fn is_revoked_now(
        &self,
        _token: &TokenFacts,
    ) -> Option<Result<bool, tower_jwt_auth::error::BoxError>> {
        self.now.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer.lock().unwrap().clone()?;
        Some(answer.map_err(Into::into))
    }
}

#[tokio::test]
async fn a_store_answering_at_once_is_not_asked_to_wait() {
    let store = AtOnce::default();
    let layer = |store: &AtOnce| builder().revocations(store.clone());
    let token = hs256(&claims());
    // The store's answer, whether the layer fails open, the status.
    let cases: [(StoreAnswer, bool, u16); 5] = [
        (Some(Ok(false)), false, 200),
        (Some(Ok(true)), false, 401),
        (Some(Err("down".into())), false, 503),
        (Some(Err("down".into())), true, 200),
        // No answer at once: asked to wait, and its answer (not revoked) holds.
        (None, false, 200),
    ];
    for (answer, fail_open, status) in cases {
        *store.answer.lock().unwrap() = answer.clone();
        let (now, later) = (
            store.now.load(Ordering::SeqCst),
            store.later.load(Ordering::SeqCst),
        );
        let builder = layer(&store);
        let builder = if fail_open {
            builder.revocation_fail_open()
        } else {
            builder
        };
        let answer_sent = send(app(builder.build().unwrap()), bearer(&token)).await;
        assert_eq!(answer_sent.status.as_u16(), status, "{answer:?}");
        assert_eq!(store.now.load(Ordering::SeqCst), now + 1, "{answer:?}");
        let waited = usize::from(answer.is_none());
        assert_eq!(
            store.later.load(Ordering::SeqCst),
            later + waited,
            "{answer:?}"
        );
    }
    let refused = {
        *store.answer.lock().unwrap() = Some(Ok(true));
        send(app(layer(&store).build().unwrap()), bearer(&token)).await
    };
    refused.assert_rejected(401, "invalid_token", "jwt revoked");
}

/// The memory store's check needs no timer: it used to be bounded by a timeout, which panics
/// on a runtime built without one.
#[test]
fn the_memory_store_is_checked_on_a_runtime_without_a_timer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryRevocationStore::default();
    let app = revoking_app(builder().revocations(store.clone()).build().unwrap());
    let token = user_token("alice", Some("jti-1"), now() - 10);
    runtime.block_on(async {
        assert_eq!(send(app.clone(), bearer(&token)).await.raw, b"alice");
        store
            .revoke_subject("alice", now(), Duration::from_secs(600))
            .await
            .unwrap();
        send(app, bearer(&token))
            .await
            .assert_rejected(401, "invalid_token", "jwt revoked");
    });
}
