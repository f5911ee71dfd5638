//! The decision span: one per request, with the documented fields, never the token nor other
//! claims, covering the decision and not the inner service.
//!
//! Alone in its test binary, and every test installs its subscriber before the first request:
//! tracing caches per-callsite interest process-wide (see tests/tracing_events.rs).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::*;
use serde_json::json;
use tower_jwt_auth::revocation::TokenFacts;
use tower_jwt_auth::telemetry::{DECISION_SPAN, TARGET};
use tower_jwt_auth::{JwtLayer, Key};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

/// An event's message, and the name of the span it happened in.
type SeenEvent = (String, Option<String>);

/// The closed decision spans and their fields, and each event with its span's name.
#[derive(Clone, Default)]
struct Recorded {
    spans: Arc<Mutex<Vec<Fields>>>,
    events: Arc<Mutex<Vec<SeenEvent>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Recorded {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        values.record(&mut Visitor(extensions.get_mut::<Fields>().unwrap()));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let span = ctx.event_span(event).map(|span| span.name().to_owned());
        let message = fields.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push((message, span));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        if span.metadata().name() == DECISION_SPAN && span.metadata().target() == TARGET {
            let fields = span.extensions().get::<Fields>().unwrap().clone();
            self.spans.lock().unwrap().push(fields);
        }
    }
}

impl Recorded {
    /// Records this thread's spans and events at every level from now on.
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let recorded = Self::default();
        let subscriber = tracing_subscriber::registry()
            .with(recorded.clone())
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        (recorded, tracing::subscriber::set_default(subscriber))
    }

    fn spans(&self) -> Vec<Fields> {
        std::mem::take(&mut self.spans.lock().unwrap())
    }

    fn events(&self) -> Vec<SeenEvent> {
        std::mem::take(&mut self.events.lock().unwrap())
    }

    /// The handler of `traced_app` ran, and not inside the decision span.
    fn assert_handler_ran_outside_the_span(&self) {
        let events = self.events();
        assert!(
            events
                .iter()
                .any(|(message, span)| message == "handler ran" && span.is_none()),
            "{events:?}"
        );
    }
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(name, value)| ((*name).into(), (*value).into()))
        .collect()
}

/// An app whose handler emits an event, to see which span it is in.
fn traced_app(layer: JwtLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async {
                tracing::info!("handler ran");
                "ok"
            }),
        )
        .layer(layer)
}

#[tokio::test(flavor = "current_thread")]
async fn an_accepted_token_leaves_one_span_with_its_header_issuer_subject_and_cache() {
    let (recorded, _guard) = Recorded::install();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET).with_kid("k1"))
        .issuer("https://auth.example")
        .cache(100)
        .build()
        .unwrap();
    let token = hs256_kid(
        "k1",
        SECRET,
        &json!({ "sub": "alice", "iss": "https://auth.example", "exp": now() + 600, "email": "alice@example.com" }),
    );
    for _ in 0..2 {
        assert_eq!(
            send(traced_app(layer.clone()), bearer(&token)).await.status,
            200
        );
    }
    let spans = recorded.spans();
    let expected = |cache| {
        fields(&[
            ("outcome", "authenticated"),
            ("alg", "HS256"),
            ("kid", "k1"),
            ("iss", "https://auth.example"),
            ("sub", "alice"),
            ("cache", cache),
        ])
    };
    assert_eq!(spans, vec![expected("miss"), expected("hit")]);
    for span in &spans {
        let values = format!("{span:?}");
        assert!(!values.contains(&token) && !values.contains("alice@example.com"));
    }
    recorded.assert_handler_ran_outside_the_span();
}

#[tokio::test(flavor = "current_thread")]
async fn the_subject_can_be_left_out_of_the_span() {
    let (recorded, _guard) = Recorded::install();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .trace_subject(false)
        .build()
        .unwrap();
    let token = hs256(&json!({ "sub": "alice@example.com", "exp": now() + 600 }));
    assert_eq!(send(traced_app(layer), bearer(&token)).await.status, 200);
    assert_eq!(
        recorded.spans(),
        vec![fields(&[("outcome", "authenticated"), ("alg", "HS256")])]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_refusal_records_its_kind_and_explains_itself_inside_the_span() {
    let (recorded, _guard) = Recorded::install();
    let expired = hs256(&json!({ "sub": "alice", "exp": now() - 600 }));
    send(traced_app(hs256_layer()), bearer(&expired)).await;
    send(traced_app(hs256_layer()), get_with(&[])).await;
    assert_eq!(
        recorded.spans(),
        vec![
            // Not `sub`, nor `iss`: a refused token's claims are not vouched for.
            fields(&[
                ("outcome", "refused"),
                ("kind", "expired"),
                ("alg", "HS256")
            ]),
            fields(&[
                ("outcome", "refused"),
                ("kind", "missing_authorization_header")
            ]),
        ]
    );
    let events = recorded.events();
    let in_span = |prefix: &str| {
        events.iter().any(|(message, span)| {
            message.starts_with(prefix) && span.as_deref() == Some(DECISION_SPAN)
        })
    };
    assert!(in_span("token refused: exp "), "{events:?}");
    assert!(in_span("request rejected"), "{events:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_anonymous_request_is_its_own_outcome() {
    let (recorded, _guard) = Recorded::install();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .build()
        .unwrap();
    assert_eq!(send(traced_app(layer), get_with(&[])).await.status, 200);
    assert_eq!(recorded.spans(), vec![fields(&[("outcome", "anonymous")])]);
}

#[tokio::test(flavor = "current_thread")]
async fn the_backends_times_are_recorded_and_the_handler_stays_outside() {
    let (recorded, _guard) = Recorded::install();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .revoked_if(|_: TokenFacts| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, std::io::Error>(false)
        })
        .user_lookup(|sub: String| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, std::io::Error>(Some(sub))
        })
        .build()
        .unwrap();
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 600 }));
    assert_eq!(
        send(traced_app(layer.clone()), bearer(&token)).await.status,
        200
    );
    let spans = recorded.spans();
    assert_eq!(spans.len(), 1);
    let micros = |field: &str| spans[0][field].parse::<u64>().unwrap();
    assert!(micros("revocation_us") >= 20_000, "{spans:?}");
    assert!(micros("user_lookup_us") >= 10_000, "{spans:?}");
    assert_eq!(spans[0]["outcome"], "authenticated");
    assert_eq!(spans[0]["sub"], "alice");
    recorded.assert_handler_ran_outside_the_span();

    // A failing backend: refused with its kind, the time still recorded.
    let failing = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .revoked_if(|_: TokenFacts| async { Err::<bool, _>(std::io::Error::other("store down")) })
        .build()
        .unwrap();
    assert_eq!(send(traced_app(failing), bearer(&token)).await.status, 503);
    let spans = recorded.spans();
    assert_eq!(spans[0]["outcome"], "refused");
    assert_eq!(spans[0]["kind"], "backend_unavailable");
    assert!(spans[0].contains_key("revocation_us"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_cache_reports_its_evictions() {
    let (recorded, _guard) = Recorded::install();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(1)
        .build()
        .unwrap();
    for sub in ["alice", "bob"] {
        let token = hs256(&json!({ "sub": sub, "exp": now() + 600 }));
        assert_eq!(
            send(traced_app(layer.clone()), bearer(&token)).await.status,
            200
        );
    }
    let events = recorded.events();
    let evictions: Vec<_> = events
        .iter()
        .filter(|(message, _)| message == "verified-token cache evicted entries")
        .collect();
    assert_eq!(evictions.len(), 1, "{events:?}");
}

#[cfg(feature = "test-util")]
#[tokio::test(flavor = "current_thread")]
async fn a_jwks_refresh_is_an_event_inside_the_decision_that_caused_it() {
    use tower_jwt_auth::test_util::TestIdentityProvider;
    let (recorded, _guard) = Recorded::install();
    let idp = TestIdentityProvider::serve().await;
    let layer = idp
        .remote_layer(idp.remote_keys().build().unwrap())
        .build()
        .unwrap();
    let token = idp.token().sign();
    assert_eq!(send(traced_app(layer), bearer(&token)).await.status, 200);
    let events = recorded.events();
    assert!(
        events
            .iter()
            .any(|(message, span)| message == "JWKS refreshed"
                && span.as_deref() == Some(DECISION_SPAN)),
        "{events:?}"
    );
    assert_eq!(recorded.spans()[0]["outcome"], "authenticated");
}
