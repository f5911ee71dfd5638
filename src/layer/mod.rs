//! [`JwtLayer`]: the middleware users add, and the state its services share.
//!
//! The request path: [`JwtService`] (service.rs) extracts the token, verifies it or finds it
//! in the cache, and runs the asynchronous checks; [`ResponseFuture`] (future.rs) waits for the
//! inner service and writes the session cookies; [`JwtLayerBuilder`] (builder.rs) validates the
//! whole configuration once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::checks::AsyncChecks;
use crate::claims::JsonClaims;
use crate::error::{ErrorHandler, Rendering};
use crate::extract::authentication::Authentication;
use crate::revocation::TokenFacts;
use crate::session::{CookieSessions, CsrfKey};
use crate::source::{BearerToken, TokenSource};
use crate::verify::Verifier;
use crate::verify::cache::VerifiedTokens;

mod builder;
mod dpop;
mod future;
mod service;
mod tenant;

pub use crate::checks::DEFAULT_BACKEND_TIMEOUT;
pub use builder::JwtLayerBuilder;
pub use dpop::DpopMode;
pub use future::{ResponseBody, ResponseFuture};
pub use service::JwtService;
pub use tenant::Tenant;

/// The default cap on a token's length in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

pub use crate::verify::rules::MAX_LEEWAY;

/// The longest lifetime a token may claim when nothing else is configured: a year from its
/// `iat` (or from now, without `iat`). See [`JwtLayerBuilder::max_lifetime`].
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What the layer does with a request that carries no token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Refuse it with 400 `invalid_request` (FoalTS `JWTRequired`). The default.
    #[default]
    Required,
    /// Let it through without claims (FoalTS `JWTOptional`). A token that is present but bad is
    /// still refused.
    Optional,
}

/// Verifies a JWT on every request and puts its claims into the request extensions.
///
/// Built with [`JwtLayer::builder`]; cheap to clone (one `Arc`). On success the request gets the
/// verified claims in its extensions, read with the [`Claims<C>`](crate::Claims) extractor (or
/// [`Claims::from_extensions`](crate::Claims::from_extensions) outside axum), and the
/// [`BearerToken`] when the layer was built with
/// [`expose_token`](JwtLayerBuilder::expose_token); it then goes on to the inner service. On
/// failure the inner service is not called and the error is rendered (see
/// [`AuthError`](crate::AuthError)), as a gRPC answer for a gRPC call.
#[must_use = "a layer authenticates nothing until it wraps a service"]
pub struct JwtLayer<C = JsonClaims> {
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    verifier: Verifier<C>,
    source: TokenSource,
    mode: Mode,
    error_handler: Arc<dyn ErrorHandler>,
    /// The rendering handed to the guards, when it is not the default one.
    rendering: Option<Rendering>,
    checks: Option<Arc<AsyncChecks>>,
    cache: Option<VerifiedTokens<C>>,
    sessions: Option<Arc<CookieSessions>>,
    /// Set when the source reads a cookie and CSRF protection is on.
    csrf: Option<CsrfKey>,
    /// Whether the request extensions get the [`BearerToken`] too.
    expose_token: bool,
    /// Whether the decision span records `sub`.
    trace_subject: bool,
    /// Picks the tenant from the request, when configured.
    tenant_resolver: Option<tenant::TenantResolver>,
    /// Set when the layer takes DPoP tokens.
    dpop: Option<dpop::LayerDpop>,
}

/// A verified request's claims and what else of it the layer keeps.
struct Authenticated {
    /// The claims, for the extractors and guards.
    claims: Authentication,
    /// The token, when the layer hands it over.
    token: Option<BearerToken>,
    /// When asynchronous checks are configured.
    facts: Option<TokenFacts>,
    /// The cookie token of a session due for renewal on the way out. Boxed: it rides in the
    /// response future, which every request moves several times, and is rarely there.
    renew: Option<Box<BearerToken>>,
    /// The proof of a DPoP request, for handlers. Boxed: most requests have none.
    proof: Option<Box<dpop::AcceptedProof>>,
}

/// What a verified request's response needs on its way out.
#[derive(Default)]
struct WayOut {
    /// The cookie token of a session due for renewal.
    renew: Option<Box<BearerToken>>,
    /// The `DPoP-Nonce` a DPoP client should move on to.
    nonce: Option<Box<http::HeaderValue>>,
}

impl Authenticated {
    /// Puts what handlers read into the request extensions; returns what the way out needs.
    fn hand_over(self, extensions: &mut http::Extensions) -> WayOut {
        extensions.insert(self.claims);
        if let Some(token) = self.token {
            extensions.insert(token);
        }
        let mut nonce = None;
        if let Some(accepted) = self.proof {
            let proof = accepted.checked.proof;
            nonce = proof
                .next_nonce()
                .and_then(|next| http::HeaderValue::from_str(next).ok())
                .map(Box::new);
            extensions.insert(proof);
        }
        WayOut {
            renew: self.renew,
            nonce,
        }
    }
}

impl<C> Clone for JwtLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<C> fmt::Debug for JwtLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayer")
            .field("verifier", &self.shared.verifier)
            .field("source", &self.shared.source)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl JwtLayer<JsonClaims> {
    /// Starts a builder. Claims default to [`JsonClaims`]; pick your own type with
    /// [`JwtLayerBuilder::claims`].
    pub fn builder() -> JwtLayerBuilder<JsonClaims> {
        JwtLayerBuilder::new()
    }
}

impl<C> JwtLayer<C> {
    /// The verifier this layer uses, to verify tokens outside a request.
    pub fn verifier(&self) -> &Verifier<C> {
        &self.shared.verifier
    }

    /// Protected-resource metadata (RFC 9728) for `resource` (its identifier, an `https`
    /// URL), with what the layer knows: the issuers it trusts as `authorization_servers` (those
    /// that are URLs: another issuer identifier names no server a client could find), and
    /// where it reads the token as `bearer_methods_supported` (`header` for the
    /// `Authorization` header, `query` for a query parameter; a cookie or a header of another
    /// name is none of RFC 6750's methods), and with [`JwtLayerBuilder::dpop`] the proof
    /// algorithms and whether DPoP is required. Add the scopes, serve it with
    /// [`service`](crate::resource::ProtectedResourceMetadata::service).
    pub fn protected_resource_metadata(
        &self,
        resource: impl Into<String>,
    ) -> crate::resource::ProtectedResourceMetadata {
        let mut methods = Vec::new();
        bearer_methods(&self.shared.source, &mut methods);
        let metadata = self
            .shared
            .verifier
            .trusted_issuers()
            // An issuer identifier that is not a URL names no server a client could find.
            .filter(|issuer| issuer.starts_with("https://") || issuer.starts_with("http://"))
            .fold(
                crate::resource::ProtectedResourceMetadata::new(resource),
                |metadata, issuer| metadata.authorization_server(issuer),
            )
            .bearer_methods_supported(methods);
        match &self.shared.dpop {
            Some(dpop) => metadata
                .dpop(&dpop.verifier)
                .dpop_bound_access_tokens_required(dpop.mode == DpopMode::Required),
            None => metadata,
        }
    }

    /// Where the layer reads tokens.
    #[cfg(feature = "utoipa")]
    pub(crate) fn source(&self) -> &TokenSource {
        &self.shared.source
    }

    /// Whether and how the layer takes DPoP tokens.
    #[cfg(feature = "utoipa")]
    pub(crate) fn dpop_mode(&self) -> Option<DpopMode> {
        self.shared.dpop.as_ref().map(|dpop| dpop.mode)
    }

    /// What the layer does with a request without a token.
    #[cfg(feature = "utoipa")]
    pub(crate) fn mode(&self) -> Mode {
        self.shared.mode
    }
}

/// The RFC 6750 methods `source` takes a token by, added to `methods` once each.
fn bearer_methods(source: &TokenSource, methods: &mut Vec<&'static str>) {
    let mut add = |method: &'static str| {
        if !methods.contains(&method) {
            methods.push(method);
        }
    };
    match source {
        TokenSource::Header | TokenSource::HeaderOrCookie { .. } => add("header"),
        TokenSource::Query { .. } => add("query"),
        TokenSource::Cookie { .. }
        | TokenSource::NamedHeader { .. }
        | TokenSource::WebSocketProtocol { .. }
        | TokenSource::Custom(_) => {}
        TokenSource::AnyOf(sources) => {
            for source in sources {
                bearer_methods(source, methods);
            }
        }
    }
}

impl<S, C> Layer<S> for JwtLayer<C> {
    type Service = JwtService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            shared: self.shared.clone(),
        }
    }
}
