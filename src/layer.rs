//! [`JwtLayer`], its builder, its [`JwtService`] and their [`ResponseFuture`].

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum_core::body::Body;
use axum_core::response::Response as AxumResponse;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Method, Request, Response};
use http_body::{Frame, SizeHint};
use jsonwebtoken::Algorithm;
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

use crate::checks::{AsyncChecks, DEFAULT_BACKEND_TIMEOUT};
use crate::claims::JsonClaims;
use crate::clock::Clock;
use crate::error::{
    AuthError, BoxError, ConfigError, DefaultErrorHandler, ErrorHandler, Rendering, is_rfc6750_char,
};
use crate::extract::Claims;
use crate::issuer::JwtIssuer;
use crate::keys::{self, Key, KeySource};
use crate::revocation::{Revocations, RevokedIf, Revoker, RevokerPolicy, TokenFacts};
use crate::session::{self, CsrfKey, SessionCookie, Sessions};
use crate::source::{BearerToken, FoundToken, TokenSource, is_valid_cookie_name};
use crate::user::{self, UserLookup};
use crate::verify::cache::{DEFAULT_CACHE_TTL, VerifiedTokens};
use crate::verify::{ClaimFacts, Expectation, Rules, Verifier};

/// The default cap on a token's length in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The largest leeway the builder accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

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
/// Built with [`JwtLayer::builder`]; cheap to clone (one `Arc`). On success the request gets
/// [`Claims<C>`](Claims) in its extensions (and the [`BearerToken`], when the layer was built
/// with [`expose_token`](JwtLayerBuilder::expose_token)) and goes on to the inner service; on
/// failure the inner service is not called and the error is rendered (see [`AuthError`]).
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
    sessions: Option<Arc<Sessions>>,
    /// Set when the source reads a cookie and CSRF protection is on.
    csrf: Option<CsrfKey>,
    /// Whether the request extensions get the [`BearerToken`] too.
    expose_token: bool,
}

/// A verified request's claims and what else of it the layer keeps.
struct Authenticated<C> {
    claims: Arc<C>,
    /// The token, when the layer hands it over.
    token: Option<BearerToken>,
    /// When asynchronous checks are configured.
    facts: Option<TokenFacts>,
    /// The cookie token of a session due for renewal on the way out. Boxed: it rides in the
    /// response future, which every request moves several times, and is rarely there.
    renew: Option<Box<BearerToken>>,
}

impl<C: Send + Sync + 'static> Authenticated<C> {
    /// Puts what handlers read into the request extensions; returns what the way out needs.
    fn hand_over(self, extensions: &mut http::Extensions) -> Option<Box<BearerToken>> {
        extensions.insert(Claims(self.claims));
        if let Some(token) = self.token {
            extensions.insert(token);
        }
        self.renew
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

/// The service [`JwtLayer`] wraps around an inner service.
pub struct JwtService<S, C = JsonClaims> {
    inner: S,
    shared: Arc<Shared<C>>,
}

impl<S: Clone, C> Clone for JwtService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for JwtService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// What the synchronous part of authentication decided.
// `Verified` is what nearly every request carries: boxing it would allocate on the fast path.
#[allow(clippy::large_enum_variant)]
enum Decision<C> {
    /// Optional mode and no token: go on without claims.
    Anonymous,
    /// The token is verified; asynchronous checks may remain.
    Verified(Authenticated<C>),
    /// Fresher remote keys may help (an unknown `kid`, no keys yet): refetch, then verify again.
    #[cfg(feature = "jwks")]
    Refresh {
        token: BearerToken,
        refresh: BoxFuture<'static, ()>,
    },
}

impl<C: DeserializeOwned + Send + Sync + 'static> Shared<C> {
    fn decide(&self, method: &Method, headers: &HeaderMap) -> Result<Decision<C>, AuthError> {
        let max_len = self.verifier.max_token_len();
        let Some(token) = self.source.extract(headers, max_len)? else {
            return match self.mode {
                Mode::Optional => Ok(Decision::Anonymous),
                Mode::Required => Err(self.source.missing_error()),
            };
        };
        match self.authenticate(token, method, headers) {
            Ok(authenticated) => Ok(Decision::Verified(authenticated)),
            #[cfg(feature = "jwks")]
            Err(error) => match self.verifier.refresh_for(&error, token.as_str()) {
                Some(refresh) => Ok(Decision::Refresh {
                    token: token.keep(),
                    refresh,
                }),
                None => Err(error),
            },
            #[cfg(not(feature = "jwks"))]
            Err(error) => Err(error),
        }
    }

    /// Verifies the token, then what depends on the request: CSRF for an unsafe request
    /// authenticated by a cookie, and whether the session is due for renewal.
    ///
    /// The token stays borrowed from the headers: an owned one (a reference count on the
    /// header's bytes) is made only for what keeps it, and most requests keep none.
    fn authenticate(
        &self,
        token: FoundToken<'_>,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Authenticated<C>, AuthError> {
        let (claims, facts, exp) = self.verify(token).map_err(|error| token.refusal(error))?;
        if token.is_from_cookie()
            && let Some(csrf) = &self.csrf
            && session::is_unsafe(method)
        {
            let jti = facts.as_ref().and_then(|facts| facts.jti.as_deref());
            csrf.check(headers, &session::binding(jti, token.as_str()))?;
        }
        let renew = (token.is_from_cookie()
            && self
                .sessions
                .as_ref()
                .is_some_and(|sessions| sessions.due_for_renewal(exp, self.verifier.now_secs())))
        .then(|| Box::new(token.keep()));
        let facts = self.checks.as_ref().and(facts).map(|facts| TokenFacts {
            token: token.keep(),
            jti: facts.jti,
            sub: facts.sub,
            sid: facts.sid,
            iat: facts.iat,
            exp: facts.exp,
        });
        Ok(Authenticated {
            claims,
            token: self.expose_token.then(|| token.keep()),
            facts,
            renew,
        })
    }

    /// The claims, the facts when anything needs them, and `exp`.
    fn verify(
        &self,
        token: FoundToken<'_>,
    ) -> Result<(Arc<C>, Option<ClaimFacts>, f64), AuthError> {
        let collect = self.checks.is_some() || self.csrf.is_some();
        let (claims, facts, exp) = match &self.cache {
            None => {
                let (claims, checked) = self.verifier.verify_collecting(token.as_str(), collect)?;
                (Arc::new(claims), checked.facts, checked.times.exp)
            }
            Some(cache) => {
                // One clock read serves the entry's deadline and the token's time claims; inside
                // the seconds the entry knows to pass, it settles both.
                let now = self.verifier.rough_now();
                match cache.get(token.as_bytes(), |hit| {
                    now.within(&hit.passing) || self.verifier.is_before(now, hit.deadline)
                }) {
                    Some(hit) => {
                        if !now.within(&hit.passing) {
                            self.verifier.recheck_times(&hit.times, now)?;
                        }
                        (hit.claims.clone(), hit.facts.clone(), hit.times.exp)
                    }
                    None => self.verify_and_remember(cache, token, collect)?,
                }
            }
        };
        Ok((claims, facts, exp))
    }

    /// A cache miss: verifies the token and stores the result.
    fn verify_and_remember(
        &self,
        cache: &VerifiedTokens<C>,
        token: FoundToken<'_>,
        collect: bool,
    ) -> Result<(Arc<C>, Option<ClaimFacts>, f64), AuthError> {
        let token = token.as_str();
        let (claims, checked) = self.verifier.verify_collecting(token, collect)?;
        let claims = Arc::new(claims);
        // Read after verifying, so the entry cannot outlive the token.
        let now = self.verifier.now_secs();
        let facts = checked.facts;
        let exp = checked.times.exp;
        cache.insert(
            token,
            claims.clone(),
            facts.clone(),
            checked.times,
            now,
            |times, deadline| self.verifier.passing_seconds(times, deadline),
        );
        Ok((claims, facts, exp))
    }

    /// What the response future needs to write, clear or renew the session cookies.
    fn reply(&self, renew: Option<Box<BearerToken>>) -> Option<SessionReply> {
        self.sessions.as_ref().map(|sessions| SessionReply {
            sessions: sessions.clone(),
            renew,
        })
    }

    /// The asynchronous rest: a key refresh and a second verification, then the revocation
    /// check and user lookup, then the inner service; or the rejection.
    async fn finish<S, ReqBody, ResBody>(
        self: Arc<Self>,
        mut inner: S,
        mut request: Request<ReqBody>,
        decision: Decision<C>,
    ) -> Result<Response<ResponseBody<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let authenticated = match decision {
            Decision::Anonymous => None,
            Decision::Verified(authenticated) => Some(authenticated),
            #[cfg(feature = "jwks")]
            Decision::Refresh { token, refresh } => {
                refresh.await;
                match self.authenticate(token.found(), request.method(), request.headers()) {
                    Ok(authenticated) => Some(authenticated),
                    Err(error) => return Ok(self.reject(&error, None)),
                }
            }
        };
        let mut renew = None;
        if let Some(mut authenticated) = authenticated {
            if let (Some(checks), Some(facts)) = (&self.checks, authenticated.facts.take()) {
                match checks.run(&facts).await {
                    Ok(insert_user) => checks.insert(request.extensions_mut(), insert_user, facts),
                    Err((error, cause)) => return Ok(self.reject(&error, cause.as_ref())),
                }
            }
            renew = authenticated.hand_over(request.extensions_mut());
        }
        self.hand_rendering(request.extensions_mut());
        let response = inner.call(request).await?;
        Ok(finish_response(response, self.reply(renew)))
    }

    /// Lets the guards behind the layer render their rejections as the layer does.
    fn hand_rendering(&self, extensions: &mut http::Extensions) {
        if let Some(rendering) = &self.rendering {
            extensions.insert(rendering.clone());
        }
    }

    fn reject<B>(&self, error: &AuthError, cause: Option<&BoxError>) -> Response<ResponseBody<B>> {
        error.trace_with_cause(cause.map(|cause| cause as &dyn fmt::Display));
        self.error_handler
            .render(error)
            .map(ResponseBody::rejection)
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for JwtService<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    C: DeserializeOwned + Send + Sync + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        match shared.decide(request.method(), request.headers()) {
            Ok(Decision::Anonymous) => {
                shared.hand_rendering(request.extensions_mut());
                ResponseFuture::inner(self.inner.call(request), shared.reply(None))
            }
            // The fast path: nothing asynchronous left, no allocation, no box.
            Ok(Decision::Verified(authenticated)) if shared.checks.is_none() => {
                let extensions = request.extensions_mut();
                let reply = shared.reply(authenticated.hand_over(extensions));
                shared.hand_rendering(extensions);
                ResponseFuture::inner(self.inner.call(request), reply)
            }
            Ok(decision) => {
                // The instance that was polled ready serves this request.
                let ready = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, ready);
                let shared = self.shared.clone();
                ResponseFuture::slow(Box::pin(shared.finish(inner, request, decision)))
            }
            Err(error) => {
                error.trace();
                ResponseFuture::rejected(self.shared.error_handler.render(&error))
            }
        }
    }
}

/// The session cookies a response gets on its way out.
pub(crate) struct SessionReply {
    sessions: Arc<Sessions>,
    /// The cookie token to renew, when it is due (see `Authenticated::renew`).
    renew: Option<Box<BearerToken>>,
}

/// The inner service's response, with the session cookies written when configured; a 500 when
/// a session the handler asked for cannot be issued.
fn finish_response<B>(
    response: Response<B>,
    reply: Option<SessionReply>,
) -> Response<ResponseBody<B>> {
    let mut response = response.map(ResponseBody::inner);
    if let Some(reply) = reply
        && reply
            .sessions
            .apply(&mut response, reply.renew.as_deref())
            .is_err()
    {
        return AuthError::KeyUnavailable
            .to_response(None)
            .map(ResponseBody::rejection);
    }
    response
}

pin_project! {
    /// The response future of [`JwtService`] and [`GuardService`](crate::GuardService): the
    /// inner service's future, a rejection, or the asynchronous checks followed by the inner
    /// service.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] future: F, session: Option<SessionReply> },
        Rejected { response: Option<AxumResponse> },
        Slow { future: BoxFuture<'static, Result<Response<ResponseBody<B>>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(future: F, session: Option<SessionReply>) -> Self {
        Self {
            kind: Kind::Inner { future, session },
        }
    }

    pub(crate) fn rejected(response: AxumResponse) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    fn slow(future: BoxFuture<'static, Result<Response<ResponseBody<B>>, E>>) -> Self {
        Self {
            kind: Kind::Slow { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, session } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(finish_response(response, session.take())))
            }
            KindProj::Rejected { response } => {
                // Polling again after `Ready` is a contract violation; answer an empty 500
                // rather than panic.
                let response = response
                    .take()
                    .unwrap_or_else(|| AuthError::KeyUnavailable.to_response(None));
                Poll::Ready(Ok(response.map(ResponseBody::rejection)))
            }
            KindProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// The body of a response that went through [`JwtService`]: the inner service's body,
    /// untouched, or the body of a rejection.
    pub struct ResponseBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Rejection { #[pin] body: Body },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: BodyKind::Inner { body },
        }
    }

    pub(crate) fn rejection(body: Body) -> Self {
        Self {
            kind: BodyKind::Rejection { body },
        }
    }
}

impl<B> http_body::Body for ResponseBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            BodyKindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            BodyKindProj::Rejection { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Rejection { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Rejection { body } => body.size_hint(),
        }
    }
}

/// Configures and validates a [`JwtLayer`]. Every option has a safe default; [`build`] checks the
/// whole configuration once and refuses a bad one.
///
/// [`build`]: JwtLayerBuilder::build
pub struct JwtLayerBuilder<C> {
    keys: Vec<Key>,
    algorithms: Option<Vec<Algorithm>>,
    source: TokenSource,
    mode: Mode,
    leeway: Duration,
    validate_nbf: bool,
    max_age: Option<Duration>,
    max_lifetime: Duration,
    audiences: Vec<String>,
    issuers: Vec<String>,
    subject: Option<String>,
    typ: Option<String>,
    max_token_len: usize,
    realm: Option<String>,
    error_handler: Option<Arc<dyn ErrorHandler>>,
    clock: Option<Clock>,
    revocations: Option<(Arc<dyn Revocations>, bool)>,
    user_lookup: Option<UserLookup>,
    backend_timeout: Duration,
    revocation_fail_open: bool,
    subject_revocation_ttl: Option<Duration>,
    cache_capacity: Option<u64>,
    cache_ttl: Duration,
    session: Option<JwtIssuer>,
    session_cookie: SessionCookie,
    csrf_protection: bool,
    csrf_secret: Option<Vec<u8>>,
    expose_token: bool,
    #[cfg(feature = "jwks")]
    remote_keys: Option<crate::keys::jwks::RemoteKeySet>,
    #[cfg(feature = "jwks")]
    issuer_keys: Vec<(String, crate::keys::jwks::RemoteKeySet)>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtLayerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayerBuilder")
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .field("source", &self.source)
            .field("mode", &self.mode)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtLayerBuilder<JsonClaims> {
    fn new() -> Self {
        Self {
            keys: Vec::new(),
            algorithms: None,
            source: TokenSource::Header,
            mode: Mode::Required,
            leeway: Duration::ZERO,
            validate_nbf: true,
            max_age: None,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            audiences: Vec::new(),
            issuers: Vec::new(),
            subject: None,
            typ: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            realm: None,
            error_handler: None,
            clock: None,
            revocations: None,
            user_lookup: None,
            backend_timeout: DEFAULT_BACKEND_TIMEOUT,
            revocation_fail_open: false,
            subject_revocation_ttl: None,
            cache_capacity: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            session: None,
            session_cookie: SessionCookie::default(),
            csrf_protection: true,
            csrf_secret: None,
            expose_token: false,
            #[cfg(feature = "jwks")]
            remote_keys: None,
            #[cfg(feature = "jwks")]
            issuer_keys: Vec::new(),
            _claims: PhantomData,
        }
    }
}

impl<C> JwtLayerBuilder<C> {
    /// The type the payload is deserialized into (default [`JsonClaims`]). A payload that does
    /// not fit it is refused with `invalid token`.
    pub fn claims<T>(self) -> JwtLayerBuilder<T> {
        JwtLayerBuilder {
            keys: self.keys,
            algorithms: self.algorithms,
            source: self.source,
            mode: self.mode,
            leeway: self.leeway,
            validate_nbf: self.validate_nbf,
            max_age: self.max_age,
            max_lifetime: self.max_lifetime,
            audiences: self.audiences,
            issuers: self.issuers,
            subject: self.subject,
            typ: self.typ,
            max_token_len: self.max_token_len,
            realm: self.realm,
            error_handler: self.error_handler,
            clock: self.clock,
            revocations: self.revocations,
            user_lookup: self.user_lookup,
            backend_timeout: self.backend_timeout,
            revocation_fail_open: self.revocation_fail_open,
            subject_revocation_ttl: self.subject_revocation_ttl,
            cache_capacity: self.cache_capacity,
            cache_ttl: self.cache_ttl,
            session: self.session,
            session_cookie: self.session_cookie,
            csrf_protection: self.csrf_protection,
            csrf_secret: self.csrf_secret,
            expose_token: self.expose_token,
            #[cfg(feature = "jwks")]
            remote_keys: self.remote_keys,
            #[cfg(feature = "jwks")]
            issuer_keys: self.issuer_keys,
            _claims: PhantomData,
        }
    }

    /// Adds a verification key. With several keys, each needs a distinct `kid` and tokens must
    /// name theirs. Required: at least one key.
    pub fn key(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Verifies with keys fetched from an identity provider (cargo feature `jwks`) instead of
    /// static keys. The layer's [`algorithms`](Self::algorithms), when set, further restrict
    /// what the fetched keys may verify.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn remote_keys(mut self, keys: crate::keys::jwks::RemoteKeySet) -> Self {
        self.remote_keys = Some(keys);
        self
    }

    /// Trusts `issuer` with its own remote key set (multi-tenant; cargo feature `jwks`). The
    /// token's `iss` picks the key set, only among the configured issuers, and is then verified
    /// like any other claim: `issuer` is added to the accepted issuers.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn issuer_keys(
        mut self,
        issuer: impl Into<String>,
        keys: crate::keys::jwks::RemoteKeySet,
    ) -> Self {
        self.issuer_keys.push((issuer.into(), keys));
        self
    }

    /// Adds several keys (a static key set, for rotation).
    pub fn keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// The algorithms accepted. Each key verifies only the listed algorithms of its own family
    /// (and curve); every listed algorithm needs a key. Default: per key, the usual algorithm of
    /// its family (HS256, RS256, ES256 or ES384 by curve, EdDSA), so nothing is accepted that
    /// was not asked for. `none` can never be allowed.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Where the token is read from. Default: [`TokenSource::Header`].
    pub fn source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self
    }

    /// Required (default) or optional authentication.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Shorthand for [`mode(Mode::Optional)`](Self::mode).
    pub fn optional(self) -> Self {
        self.mode(Mode::Optional)
    }

    /// Clock skew tolerated on `exp`, `nbf`, `iat` and `max_age`, in whole seconds. Default: zero,
    /// as node `jsonwebtoken`; at most five minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether `nbf` is checked. Default: `true`.
    pub fn validate_nbf(mut self, validate: bool) -> Self {
        self.validate_nbf = validate;
        self
    }

    /// Refuses tokens whose `iat` is older than `max_age` (node `jsonwebtoken`'s `maxAge`); makes
    /// `iat` required. Default: off.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Refuses tokens whose `exp` lies more than `max_lifetime` after their `iat` (or after now,
    /// without `iat`), so a token minted "forever" (`exp` = 2^64 − 1) by a careless or
    /// compromised issuer is not accepted. Default: [`DEFAULT_MAX_LIFETIME`] (one year); set it
    /// to your longest token lifetime. `Duration::MAX` removes the bound, leaving lifetimes to
    /// the issuer.
    ///
    /// It is also how long a "log out everywhere" is remembered unless
    /// [`subject_revocation_ttl`](Self::subject_revocation_ttl) says otherwise: no token of
    /// this layer can outlive it.
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Adds an accepted audience; `aud` becomes required and must contain one of them. Default:
    /// `aud` is not checked.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds an accepted issuer; `iss` becomes required and must equal one of them. Default: `iss`
    /// is not checked.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// The required subject; `sub` must equal it. Default: `sub` is not checked.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The required header `typ`, such as `at+jwt` for RFC 9068 access tokens, compared
    /// case-insensitively with an optional `application/` prefix. Default: `typ` is not checked.
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The longest token accepted, in bytes; longer ones are refused before any decoding.
    /// Default: [`DEFAULT_MAX_TOKEN_LEN`] (8 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// A `realm` for the `WWW-Authenticate` challenge. Default: none. The guards behind the
    /// layer ([`RequireRoles`](crate::RequireRoles), [`RequireScope`](crate::RequireScope),
    /// [`RequireClaims`](crate::RequireClaims)) send it too.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Replaces the JSON rendering of rejections. Default: [`AuthError::to_response`].
    ///
    /// The guards behind the layer render their 401 and 403 answers with it too: the layer
    /// hands it to them in the extensions of the requests it lets through.
    pub fn error_handler(mut self, handler: impl ErrorHandler) -> Self {
        self.error_handler = Some(Arc::new(handler));
        self
    }

    /// Replaces the system clock (seconds since the Unix epoch), for tests and simulations.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks every verified token against `store` (after the signature and claims, never
    /// before) and puts a [`Revoker`] into the request extensions, so handlers can log out.
    /// Revoked → 401 `jwt revoked`. Default: no revocation check.
    pub fn revocations(mut self, store: impl Revocations) -> Self {
        self.revocations = Some((Arc::new(store), true));
        self
    }

    /// Checks every verified token with an async closure returning whether it is revoked
    /// (FoalTS `blackList`). No [`Revoker`] is provided: the closure owns the list.
    pub fn revoked_if<F, Fut, E>(mut self, is_revoked: F) -> Self
    where
        F: Fn(TokenFacts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.revocations = Some((Arc::new(RevokedIf(is_revoked)), false));
        self
    }

    /// Looks the user up by the token's `sub` (FoalTS `user`) and puts it into the request
    /// extensions for the [`CurrentUser`](crate::CurrentUser) extractor.
    ///
    /// The closure decides how a `sub` maps to its id type: a `sub` it cannot parse is its
    /// `Ok(None)`. No string `sub` → 401 `The token must include a subject which is the id of
    /// the user.`; `Ok(None)` → 401 `The token subject does not match any user.`; `Err` or a
    /// timeout → 503. Default: no lookup.
    pub fn user_lookup<F, Fut, U, E>(mut self, lookup: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<U>, E>> + Send + 'static,
        U: Clone + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.user_lookup = Some(user::erase(lookup));
        self
    }

    /// The bound on each revocation check and user lookup; past it the request fails closed
    /// with 503 `temporarily_unavailable`. Default: one second. The asynchronous checks need a
    /// Tokio runtime with its timer (any axum or hyper-on-Tokio server has one).
    pub fn backend_timeout(mut self, timeout: Duration) -> Self {
        self.backend_timeout = timeout;
        self
    }

    /// Lets requests through when the revocation store fails or times out, instead of 503.
    ///
    /// Off by default, and think twice: while the store is down, revoked tokens (stolen ones,
    /// logged-out sessions) are accepted again until they expire. Every such request is logged
    /// at warn level. The user lookup always fails closed.
    pub fn revocation_fail_open(mut self) -> Self {
        self.revocation_fail_open = true;
        self
    }

    /// How long a "log out everywhere" ([`Revoker::revoke_subject`]) is remembered: the longest
    /// lifetime a token of this layer can have. Default: the shorter of `max_age` and
    /// [`max_lifetime`](Self::max_lifetime), plus the leeway, so no token it revoked can outlive
    /// it. A shorter value forgets the revocation while tokens it covers are still valid.
    pub fn subject_revocation_ttl(mut self, ttl: Duration) -> Self {
        self.subject_revocation_ttl = Some(ttl);
        self
    }

    /// Also hands the raw token to the inner service: the request extensions get the
    /// [`BearerToken`] next to the claims, for the [`BearerToken`] extractor (or
    /// `extensions().get::<BearerToken>()`). Off by default.
    ///
    /// Turn it on for handlers that pass the user's token on to another service. Off, the
    /// token goes no further than the layer: a bearer credential that nothing behind the layer
    /// holds cannot leak from there, and an accepted request spends nothing on it (handing it
    /// over is one more extension entry, and one more allocation, per request). Handlers that
    /// revoke the current token need no raw token: with a revocation store configured they get
    /// [`TokenFacts`] and [`Revoker`].
    ///
    /// Without it, a handler asking for `BearerToken` is refused with a 401 and a trace event
    /// naming this method.
    pub fn expose_token(mut self) -> Self {
        self.expose_token = true;
        self
    }

    /// Keeps up to `capacity` verified tokens, so a token seen again skips the signature check
    /// and the parse. Off by default.
    ///
    /// A hit is a token whose exact bytes were verified before (the whole token is the key, not
    /// a hash of it). It still has its `exp`, `nbf`, `iat` and `max_age` checked against the
    /// clock, and still goes through the revocation check and the user lookup; every other rule
    /// depends only on the token and the configuration, which do not change. An entry lives
    /// until its token expires, and never longer than [`cache_ttl`](Self::cache_ttl).
    ///
    /// Without a [`clock`](Self::clock), a hit reads the time from Linux's coarse clock, which
    /// costs a few nanoseconds where the precise one costs tens, and turns to the precise clock
    /// whenever a deadline or a time claim is within a second or two: the verdicts are those
    /// of the precise clock.
    ///
    /// Memory: up to `capacity` entries of the token plus its claims (about the token's length
    /// twice, plus your claims type).
    ///
    /// When not to enable it:
    /// - Clients rarely send the same token twice (a token per request, short-lived one-shot
    ///   tokens): every request is a miss and pays for the insertion on top.
    /// - A key removed from the identity provider's JWKS must stop working at once: cached
    ///   tokens signed with it keep passing until their entry expires (bounded by
    ///   [`cache_ttl`](Self::cache_ttl)). Revoke the tokens, or keep the TTL short.
    /// - Memory is tight and tokens are large.
    ///
    /// A zero capacity is refused by [`build`](Self::build).
    pub fn cache(mut self, capacity: u64) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// The longest a verified token stays in the [`cache`](Self::cache), however long it is
    /// valid. Default: five minutes. Entries are timed in whole seconds of the clock the
    /// tokens' `exp` is judged by (a fraction of a second is dropped), so a TTL under a second
    /// is refused by [`build`](Self::build).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Lets handlers start and end cookie sessions: a response carrying [`SetSession`](crate::SetSession) gets its
    /// claims signed by `issuer` into the auth cookie (and the `XSRF-TOKEN` cookie beside it), one
    /// carrying [`ClearSession`](crate::ClearSession) gets both cleared; other responses keep the cookies as they are,
    /// unless sliding renewal is on ([`SessionCookie::sliding`]). The cookies' attributes come
    /// from [`session_cookie`](Self::session_cookie).
    ///
    /// Put a layer with a session on the login route too (in [`optional`](Self::optional) mode):
    /// that is where `SetSession` is answered.
    pub fn session(mut self, issuer: JwtIssuer) -> Self {
        self.session = Some(issuer);
        self
    }

    /// The session cookies' name and attributes (see [`SessionCookie`]).
    pub fn session_cookie(mut self, cookie: SessionCookie) -> Self {
        self.session_cookie = cookie;
        self
    }

    /// CSRF protection for cookie authentication, on by default: an unsafe request (anything
    /// but `GET`, `HEAD`, `OPTIONS`, `TRACE`) whose token came from a cookie must carry the
    /// session's CSRF token (the `XSRF-TOKEN` cookie's value) in `X-CSRF-Token` or
    /// `X-XSRF-Token`, or gets 403 `invalid_csrf_token`. Requests authenticated by the
    /// `Authorization` header are not concerned: a browser never adds it on its own.
    ///
    /// Turn it off only when the cookie is `SameSite=Strict` and every client is a browser
    /// that honours it, or when another CSRF defence is in place.
    pub fn csrf_protection(mut self, enabled: bool) -> Self {
        self.csrf_protection = enabled;
        self
    }

    /// The secret CSRF tokens are derived from. Default: derived from the
    /// [`session`](Self::session) issuer's key, so instances sharing the issuer agree; without
    /// a session, a random secret per process, which other instances do not share.
    pub fn csrf_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.csrf_secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Validates the configuration and builds the layer.
    #[cfg_attr(not(feature = "jwks"), allow(unused_mut))]
    pub fn build(mut self) -> Result<JwtLayer<C>, ConfigError>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        let provider = keys::crypto_provider()?;
        let allowed = self.algorithms.clone();
        #[cfg(feature = "jwks")]
        let keys = if self.remote_keys.is_some() || !self.issuer_keys.is_empty() {
            if !self.keys.is_empty() {
                return Err(ConfigError::MixedKeySources);
            }
            if allowed.as_ref().is_some_and(Vec::is_empty) {
                return Err(ConfigError::NoAlgorithms);
            }
            for (issuer, _) in &self.issuer_keys {
                if !self.issuers.contains(issuer) {
                    self.issuers.push(issuer.clone());
                }
            }
            let remote = crate::keys::jwks::RemoteKeys::new(self.remote_keys, self.issuer_keys);
            KeySource::Remote(remote)
        } else {
            KeySource::Static(keys::prepare_keys(self.keys, allowed.as_deref(), provider)?)
        };
        #[cfg(not(feature = "jwks"))]
        let keys = KeySource::Static(keys::prepare_keys(self.keys, allowed.as_deref(), provider)?);
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge);
        }
        if self.max_token_len == 0 {
            return Err(ConfigError::ZeroSizeCap);
        }
        if self
            .source
            .cookie_name()
            .is_some_and(|name| !is_valid_cookie_name(name))
        {
            return Err(ConfigError::InvalidCookieName);
        }
        if let Some(realm) = &self.realm
            && !realm.chars().all(is_rfc6750_char)
        {
            return Err(ConfigError::InvalidRealm);
        }
        let rules = Rules {
            leeway: self.leeway.as_secs(),
            validate_nbf: self.validate_nbf,
            max_age: self.max_age.map(|age| age.as_secs()),
            max_lifetime: (self.max_lifetime != Duration::MAX)
                .then_some(self.max_lifetime.as_secs()),
            audiences: expectation("audience", self.audiences, " or ")?,
            issuers: expectation("issuer", self.issuers, ",")?,
            subject: expectation("subject", self.subject.into_iter().collect(), "")?,
            typ: expectation("typ", self.typ.into_iter().collect(), "")?,
            clock: self.clock.clone(),
        };
        if self.backend_timeout.is_zero() {
            return Err(ConfigError::ZeroBackendTimeout);
        }
        if self.cache_capacity == Some(0) || self.cache_ttl < Duration::from_secs(1) {
            return Err(ConfigError::EmptyCache);
        }
        let cache = self
            .cache_capacity
            .map(|capacity| VerifiedTokens::new(capacity, self.cache_ttl));
        let longest_token = self
            .max_age
            .map_or(self.max_lifetime, |age| age.min(self.max_lifetime));
        let subject_ttl = self
            .subject_revocation_ttl
            .unwrap_or_else(|| longest_token.saturating_add(self.leeway));
        let checks = (self.revocations.is_some() || self.user_lookup.is_some()).then(|| {
            let revoker = self.revocations.as_ref().and_then(|(store, can_revoke)| {
                can_revoke.then(|| {
                    let policy = RevokerPolicy {
                        leeway: self.leeway,
                        subject_ttl,
                        timeout: self.backend_timeout,
                        clock: self.clock.clone(),
                    };
                    Revoker::new(store.clone(), policy)
                })
            });
            Arc::new(AsyncChecks {
                revocations: self.revocations.map(|(store, _)| store),
                revoker,
                user_lookup: self.user_lookup,
                timeout: self.backend_timeout,
                revocation_fail_open: self.revocation_fail_open,
            })
        });
        let custom = self.error_handler.is_some() || self.realm.is_some();
        let error_handler = self.error_handler.unwrap_or_else(|| {
            Arc::new(DefaultErrorHandler {
                realm: self.realm.map(Into::into),
            })
        });
        let rendering = custom.then(|| Rendering(error_handler.clone()));
        let protect = self.csrf_protection && self.source.cookie_name().is_some();
        // Keyed once, here: the CSRF check needs it, and so do sessions, which set the cookie.
        let csrf_key = match (&self.csrf_secret, &self.session) {
            _ if !protect && self.session.is_none() => None,
            (Some(secret), _) => Some(CsrfKey::from_secret(secret)?),
            (None, Some(issuer)) => Some(CsrfKey::from_issuer(issuer)?),
            (None, None) => Some(CsrfKey::process_wide()?),
        };
        let csrf = csrf_key.clone().filter(|_| protect);
        if self.session.is_some()
            && self
                .source
                .cookie_name()
                .is_some_and(|name| name != self.session_cookie.auth_cookie_name())
        {
            return Err(ConfigError::InvalidSessionCookie(
                "name differs from the token source's cookie",
            ));
        }
        let sessions = match (self.session, csrf_key) {
            (Some(issuer), Some(csrf_key)) => Some(Arc::new(Sessions::new(
                issuer,
                self.session_cookie,
                csrf_key,
            )?)),
            _ => None,
        };
        let verifier = Verifier::new(keys, allowed, rules, provider, self.max_token_len);
        Ok(JwtLayer {
            shared: Arc::new(Shared {
                verifier,
                source: self.source,
                mode: self.mode,
                error_handler,
                rendering,
                checks,
                cache,
                sessions,
                csrf,
                expose_token: self.expose_token,
            }),
        })
    }
}

/// `None` when nothing is expected; an error when an expected value is empty.
fn expectation(
    what: &'static str,
    values: Vec<String>,
    separator: &str,
) -> Result<Option<Expectation>, ConfigError> {
    if values.iter().any(String::is_empty) {
        return Err(ConfigError::EmptyExpectation(what));
    }
    Ok((!values.is_empty()).then(|| Expectation::new(values, separator)))
}
