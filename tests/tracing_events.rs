//! Tracing: one event per rejection, never the token.
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
        .revoked_if(|_facts: tower_jwt_auth::TokenFacts| async {
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
    assert_eq!(events.len(), 3, "{output}");
    assert!(
        events[0].contains("DEBUG") && events[0].contains("kind=\"expired\""),
        "{output}"
    );
    assert!(events[1].contains("DEBUG") && events[1].contains("missing_authorization_header"));
    // A backend failure is one error-level event that carries its cause.
    assert!(events[2].contains("ERROR") && events[2].contains("backend_unavailable"));
    assert!(
        events[2].contains("redis refused the connection"),
        "{output}"
    );
    assert!(!output.contains(&expired[..30]));
}
