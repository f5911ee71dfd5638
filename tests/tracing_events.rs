//! Tracing: every rejection says why at DEBUG and then gives its verdict, never the token;
//! configuration mistakes are ERROR events naming them.
//!
//! Alone in its test binary on purpose: tracing caches per-callsite interest process-wide, and a
//! test on another thread hitting the callsite with no subscriber can make a thread-local
//! subscriber here miss events.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;

/// Collects the formatted tracing output of the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_rejection_emits_one_debug_event_without_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let expired = hs256(&json!({ "exp": now() - 1, "sub": "alice" }));
    send(app(hs256_layer()), bearer(&expired)).await;
    send(app(hs256_layer()), get_with(&[])).await;
    send(app(hs256_layer()), bearer(&hs256(&claims()))).await;
    let failing_store = tower_jwt_auth::JwtLayer::builder()
        .key(tower_jwt_auth::Key::hmac(SECRET))
        .revoked_if(|_facts: tower_jwt_auth::revocation::TokenFacts| async {
            Err::<bool, _>(std::io::Error::other("redis refused the connection"))
        })
        .build()
        .unwrap();
    send(app(failing_store), bearer(&hs256(&claims()))).await;

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let events: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("tower_jwt_auth"))
        .collect();
    assert_eq!(events.len(), 4, "{output}");
    // Why, then the verdict.
    assert!(
        events[0].contains("DEBUG")
            && events[0].contains("kind=\"expired\"")
            && events[0].contains("token refused: exp "),
        "{output}"
    );
    assert!(
        events[1].contains("DEBUG")
            && events[1].contains("kind=\"expired\"")
            && events[1].contains("request rejected"),
        "{output}"
    );
    // A missing header needs no other word than its kind.
    assert!(events[2].contains("DEBUG") && events[2].contains("missing_authorization_header"));
    // A backend failure is one error-level event that carries its cause.
    assert!(events[3].contains("ERROR") && events[3].contains("backend_unavailable"));
    assert!(
        events[3].contains("redis refused the connection"),
        "{output}"
    );
    assert!(
        !output.contains("INFO"),
        "nothing per request at INFO: {output}"
    );
    assert!(!output.contains(&expired[..30]));

    // A handler asking for the token the layer does not hand over: a 500, and the error-level
    // event says how to fix the wiring.
    let token = hs256(&claims());
    let asks_for_token = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|token: tower_jwt_auth::source::BearerToken| async move {
                token.len().to_string()
            }),
        )
        .layer(hs256_layer());
    send(asks_for_token, bearer(&token))
        .await
        .assert_misconfigured();
    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let hints: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("tower_jwt_auth") && l.contains("expose_token"))
        .collect();
    assert_eq!(hints.len(), 1, "{output}");
    assert!(
        hints[0].contains("ERROR") && hints[0].contains("kind=\"misconfigured\""),
        "{output}"
    );
    assert!(!output.contains(&token[..30]));

    a_revocation_the_full_store_refuses_is_logged_at_error(&captured).await;
    each_refusal_says_why(&captured).await;
    a_reader_of_another_claims_type_is_named_once_per_route(&captured).await;
    #[cfg(feature = "jwks")]
    skipped_jwks_keys_are_logged_once(&captured).await;
}

/// The events written since `from`, of the crate only.
fn events_since(captured: &Captured, from: usize) -> String {
    let output = String::from_utf8(captured.0.lock().unwrap()[from..].to_vec()).unwrap();
    output
        .lines()
        .filter(|l| l.contains("tower_jwt_auth"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `token refused:` line of one request, checked for its reason, and for what it must not
/// hold: the token, or any of `secrets` (claim values).
async fn why_refused(
    captured: &Captured,
    app: axum::Router,
    request: http::Request<axum::body::Body>,
    secrets: &[&str],
) -> String {
    let token = request.headers().get("authorization").map(|value| {
        value
            .to_str()
            .unwrap()
            .trim_start_matches("Bearer ")
            .to_owned()
    });
    let from = captured.0.lock().unwrap().len();
    let answer = send(app, request).await;
    assert!(answer.status.is_client_error(), "{}", answer.body);
    let events = events_since(captured, from);
    let why: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("token refused:"))
        .collect();
    assert_eq!(why.len(), 1, "{events}");
    assert!(why[0].contains("DEBUG"), "{events}");
    if let Some(token) = token.filter(|token| token.len() > 20) {
        assert!(!events.contains(&token[token.len() - 20..]), "{events}");
        assert!(!events.contains(&token[..20]), "{events}");
    }
    for secret in secrets {
        assert!(!events.contains(secret), "{secret} in {events}");
    }
    let why = why[0].split("token refused: ").nth(1).unwrap();
    // The fields follow the message.
    why.rsplit_once(" kind=")
        .map_or(why, |(why, _)| why)
        .to_owned()
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Typed {
    sub: String,
    exp: u64,
    scope: String,
}

#[derive(serde::Deserialize)]
struct Layered {}

#[derive(serde::Deserialize)]
struct Asked {}

impl tower_jwt_auth::guard::Grants for Asked {}

/// Each rule says which one failed and why, in words an operator can act on.
async fn each_refusal_says_why(captured: &Captured) {
    use tower_jwt_auth::{JwtLayer, Key, RequireRoles};

    let typed = || {
        let layer = JwtLayer::builder()
            .claims::<Typed>()
            .key(Key::hmac(SECRET))
            .build()
            .unwrap();
        axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .layer(layer)
    };
    let exp = now() + 60;
    let why = why_refused(
        captured,
        typed(),
        bearer(&hs256(&json!({ "sub": "s3cret-sub", "exp": exp }))),
        &["s3cret-sub"],
    )
    .await;
    assert_eq!(
        why,
        "claims type `tracing_events::Typed`: missing field `scope`"
    );
    let why = why_refused(
        captured,
        typed(),
        bearer(&hs256(
            &json!({ "sub": "a", "exp": exp, "scope": ["s3cret-scope"] }),
        )),
        &["s3cret-scope"],
    )
    .await;
    assert!(
        why.ends_with(r#"field "scope": invalid type: sequence, expected a string"#),
        "{why}"
    );

    let past = now() - 3600;
    let why = why_refused(
        captured,
        app(hs256_layer()),
        bearer(&hs256(&json!({ "sub": "a", "exp": past }))),
        &[],
    )
    .await;
    assert!(why.starts_with(&format!("exp {past} is 360")), "{why}");
    assert!(why.ends_with(" s in the past (leeway 0 s)"), "{why}");

    let why = why_refused(
        captured,
        app(two_key_layer()),
        bearer(&hs256_kid("k9", SECRET, &claims())),
        &[],
    )
    .await;
    assert_eq!(why, r#"kid "k9" is not in the key set"#);

    let audience = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .audience("api")
        .build()
        .unwrap();
    let why = why_refused(
        captured,
        app(audience),
        bearer(&hs256(&json!({ "exp": exp, "aud": "other" }))),
        &[],
    )
    .await;
    assert_eq!(why, r#"aud "\"other\"" holds none of ["api"]"#);

    let why = why_refused(
        captured,
        app(hs256_layer()),
        bearer(&hs256(&json!({ "exp": "soon" }))),
        &["soon"],
    )
    .await;
    assert_eq!(why, "`exp` is a string, not a NumericDate");

    let tampered = forged(&hs256(&claims()));
    let why = why_refused(captured, app(hs256_layer()), bearer(&tampered), &[]).await;
    assert_eq!(
        why,
        "the HS256 signature does not verify with the key of the key set (no kid)"
    );

    let guarded = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { "ok" })
                .route_layer(RequireRoles::any(["admin"]).unwrap()),
        )
        .layer(hs256_layer());
    let from = captured.0.lock().unwrap().len();
    let token = hs256(&json!({ "exp": exp, "roles": ["s3cret-role"] }));
    assert_eq!(send(guarded, bearer(&token)).await.status, 403);
    let events = events_since(captured, from);
    assert!(
        events.contains(r#"guard="RequireRoles""#)
            && events.contains(r#"refused: the roles at `roles` hold none of ["admin"]"#),
        "{events}"
    );
    assert!(!events.contains("s3cret-role"), "{events}");
}

/// A reader of another claims type than the layer's is an ERROR naming both types, once per
/// route however many requests it refuses.
async fn a_reader_of_another_claims_type_is_named_once_per_route(captured: &Captured) {
    use tower_jwt_auth::{Claims, JwtLayer, Key, RequireRoles};

    let layer = JwtLayer::builder()
        .claims::<Layered>()
        .key(Key::hmac(SECRET))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/extractor",
            axum::routing::get(|_: Claims<Asked>| async { "ok" }),
        )
        .route(
            "/guard",
            axum::routing::get(|| async { "ok" })
                .route_layer(RequireRoles::any(["admin"]).unwrap().claims::<Asked>()),
        )
        .layer(layer);
    let from = captured.0.lock().unwrap().len();
    for _ in 0..3 {
        for path in ["/extractor", "/guard"] {
            let request = bearer_to(http::Method::GET, path, &hs256(&claims()));
            send(app.clone(), request).await.assert_misconfigured();
        }
    }
    let events = events_since(captured, from);
    let named: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("asks for claims of type"))
        .collect();
    assert_eq!(named.len(), 2, "{events}");
    for (line, path, reader) in [
        (named[0], "/extractor", "an extractor"),
        (named[1], "/guard", "RequireRoles"),
    ] {
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains(&format!("path=\"{path}\"")), "{line}");
        assert!(line.contains(reader), "{line}");
        assert!(line.contains("`tracing_events::Asked`"), "{line}");
        assert!(line.contains("`tracing_events::Layered`"), "{line}");
    }
}

/// A revocation the memory store has no room for fails with 503, and says why at error level.
async fn a_revocation_the_full_store_refuses_is_logged_at_error(captured: &Captured) {
    let store = tower_jwt_auth::revocation::MemoryRevocationStore::new(1);
    let layer = tower_jwt_auth::JwtLayer::builder()
        .key(tower_jwt_auth::Key::hmac(SECRET))
        .revocations(store)
        .build()
        .unwrap();
    let app = revoking_app(layer);
    let logout = |sub: &str| {
        let token = hs256(&json!({ "sub": sub, "jti": sub, "exp": now() + 60, "iat": now() }));
        let mut request = bearer(&token);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = "/logout".parse().unwrap();
        request
    };
    assert_eq!(send(app.clone(), logout("first")).await.status, 204);
    assert_eq!(send(app.clone(), logout("second")).await.status, 503);
    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let full: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("revocation store full"))
        .collect();
    assert_eq!(full.len(), 1, "{output}");
    assert!(full[0].contains("ERROR"), "{output}");
}

/// A JWKS key the policy skips is reported once, at warn, however often the set is refetched.
#[cfg(feature = "jwks")]
async fn skipped_jwks_keys_are_logged_once(captured: &Captured) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use jsonwebtoken::Algorithm;
    use jsonwebtoken::jwk::Jwk;
    use tower_jwt_auth::{JwtLayer, jwks::RemoteKeySet};

    tower_jwt_auth::keys::install_crypto_provider().unwrap();
    let mut good = serde_json::to_value(
        Jwk::from_encoding_key(&encoding_key(Algorithm::RS256), Algorithm::RS256).unwrap(),
    )
    .unwrap();
    good["kid"] = json!("good");
    let jwks =
        json!({ "keys": [{ "kty": "oct", "k": b64(SECRET), "kid": "shared-secret" }, good] });
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let idp = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.to_string();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, idp).into_future());

    let keys = RemoteKeySet::builder()
        .jwks_url(url)
        .cooldown(Duration::from_millis(50))
        .build()
        .unwrap();
    let layer = JwtLayer::builder().remote_keys(keys).build().unwrap();
    let signed = |kid: &str| {
        let header = json!({ "alg": "RS256", "kid": kid }).to_string();
        sign_raw(
            &header,
            &claims().to_string(),
            Algorithm::RS256,
            &encoding_key(Algorithm::RS256),
        )
    };
    assert_eq!(try_token(layer.clone(), &signed("good")).await.status, 200);
    for attempt in 0..2 {
        tokio::time::sleep(Duration::from_millis(80)).await;
        let answer = try_token(layer.clone(), &signed(&format!("unknown-{attempt}"))).await;
        assert_eq!(answer.status, 401);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "three fetches of the same key set"
    );

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let skipped: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("JWKS key skipped"))
        .collect();
    assert_eq!(skipped.len(), 1, "{output}");
    assert!(
        skipped[0].contains("WARN") && skipped[0].contains("shared-secret"),
        "{output}"
    );
    assert!(
        !output.contains(&b64(SECRET)),
        "the skipped key's material is never logged"
    );
}
