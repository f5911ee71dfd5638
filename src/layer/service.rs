//! [`JwtService`]: the decision for each request.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

#[cfg(feature = "jwks")]
use crate::BoxFuture;
use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;
use tracing::Instrument;

use crate::checks::Rejection;
use crate::claims::JsonClaims;
use crate::error::{AuthError, BoxError, Shown, explained};
use crate::extract::authentication::Authentication;
use crate::request::RequestHead;
use crate::revocation::TokenFacts;
use crate::session;
use crate::source::FoundToken;
use crate::telemetry::{self, DecisionSpan, Timer, Verdict};
use crate::verify::KeyBinding;
use crate::verify::cache::Outcome;

use super::future::{Reply, ResponseBody, ResponseFuture, finish_response};
use super::{Authenticated, Mode, Shared, WayOut};

/// The service [`JwtLayer`](super::JwtLayer) wraps around an inner service.
pub struct JwtService<S, C = JsonClaims> {
    pub(super) inner: S,
    pub(super) shared: Arc<Shared<C>>,
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
enum Decision {
    /// Optional mode and no token: go on without claims.
    Anonymous,
    /// The token is verified; asynchronous checks may remain.
    Verified(Authenticated),
    /// Fresher remote keys may help (an unknown `kid`, no keys yet): refetch, then verify again.
    #[cfg(feature = "jwks")]
    Refresh {
        token: crate::source::BearerToken,
        tenant: Option<usize>,
        refresh: BoxFuture<'static, ()>,
    },
}

impl<C: DeserializeOwned + Send + Sync + 'static> Shared<C> {
    /// The synchronous part of the decision, inside `span` (its events are the span's) and
    /// timed for the metrics. The guards live in this frame: the decision, a large value, is
    /// returned in place rather than moved out of a closure.
    fn decide(&self, head: &RequestHead<'_>, span: &DecisionSpan) -> Result<Decision, AuthError> {
        let _entered = span.enter();
        let _timer = Timer::start();
        let max_len = self.verifier.max_token_len();
        let Some(token) = self.source.extract(head, max_len)? else {
            return match self.mode {
                Mode::Optional => Ok(Decision::Anonymous),
                Mode::Required => Err(self.source.missing_error()),
            };
        };
        match &self.dpop {
            Some(dpop) => dpop.check_scheme(&token)?,
            None if token.is_dpop() => {
                return Err(explained(
                    AuthError::InvalidScheme,
                    format_args!("the DPoP scheme, and the layer takes no DPoP tokens"),
                ));
            }
            None => {}
        }
        let tenant = self.tenant(head)?;
        match self.authenticate(&token, tenant, head, span) {
            Ok(authenticated) => Ok(Decision::Verified(authenticated)),
            #[cfg(feature = "jwks")]
            Err(error) => match self.verifier.refresh_for(&error, token.as_str()) {
                Some(refresh) => Ok(Decision::Refresh {
                    token: token.keep(),
                    tenant,
                    refresh,
                }),
                None => Err(error),
            },
            #[cfg(not(feature = "jwks"))]
            Err(error) => Err(error),
        }
    }

    /// The tenant the request picks, when a resolver picks it; a request it picks none for,
    /// or an issuer no tenant has, is refused.
    fn tenant(&self, head: &RequestHead<'_>) -> Result<Option<usize>, AuthError> {
        let Some(resolve) = &self.tenant_resolver else {
            return Ok(None);
        };
        let Some(issuer) = (resolve.0)(head) else {
            return Err(explained(
                AuthError::InvalidIssuer {
                    expected: self.verifier.issuers_shown(),
                },
                format_args!(
                    "the tenant resolver picked no tenant for {} {}",
                    head.method(),
                    Shown(head.uri().path())
                ),
            ));
        };
        match self.verifier.tenant_of(&issuer) {
            Some(tenant) => Ok(Some(tenant)),
            // The resolver and the tenants disagree: the server's mistake, not the client's.
            None => {
                tracing::error!(
                    target: "tower_jwt_auth",
                    kind = AuthError::Misconfigured.kind_name(),
                    issuer = %Shown(&issuer),
                    tenants = %self.verifier.issuers_shown(),
                    "the tenant resolver picked an issuer no tenant is configured for",
                );
                Err(AuthError::Misconfigured)
            }
        }
    }

    /// Verifies the token, then what depends on the request: CSRF for an unsafe request
    /// authenticated by a cookie, and whether the session is due for renewal.
    ///
    /// The token stays borrowed from the headers: an owned one (a reference count on the
    /// header's bytes) is made only for what keeps it, and most requests keep none.
    fn authenticate(
        &self,
        token: &FoundToken<'_>,
        tenant: Option<usize>,
        head: &RequestHead<'_>,
        span: &DecisionSpan,
    ) -> Result<Authenticated, AuthError> {
        let (method, headers) = (head.method(), head.headers());
        let outcome = self.verify(token, tenant).map_err(|error| {
            span.record_token(token, None);
            token.refusal(error)
        })?;
        let verified = telemetry::Verified {
            cache_hit: outcome.cache_hit,
            with_subject: self.trace_subject,
        };
        span.record_token(token, Some(verified));
        let Outcome {
            claims, facts, exp, ..
        } = outcome;
        let proof = match &self.dpop {
            Some(dpop) => {
                // A DPoP layer always collects the facts; without them, bound to nothing a
                // proof could match, and refused under either scheme.
                let binding = facts
                    .as_ref()
                    .map_or(&KeyBinding::Unreadable, |facts| &facts.binding);
                dpop.check(token, binding, head)?.map(Box::new)
            }
            None => None,
        };
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
        let facts = self.checks.as_ref().and(facts).map(|claims| TokenFacts {
            token: token.keep(),
            claims,
        });
        Ok(Authenticated {
            claims: Authentication::verified(claims, || token.keep()),
            token: self.expose_token.then(|| token.keep()),
            facts,
            renew,
            proof,
        })
    }

    /// The claims, the facts when anything needs them, and `exp`.
    fn verify(
        &self,
        token: &FoundToken<'_>,
        tenant: Option<usize>,
    ) -> Result<Outcome<C>, AuthError> {
        let collect = self.checks.is_some() || self.csrf.is_some() || self.dpop.is_some();
        self.verifier
            .verify_through(self.cache.as_ref(), token, tenant, collect)
    }

    /// The asynchronous checks, when they settle without waiting (see
    /// [`AsyncChecks::run_now`](crate::checks::AsyncChecks::run_now)): what handlers read is
    /// then put into `extensions`. `None` when they must wait.
    fn check_now(
        &self,
        authenticated: &mut Authenticated,
        extensions: &mut http::Extensions,
        span: &DecisionSpan,
    ) -> Option<Result<(), Rejection>> {
        if authenticated
            .proof
            .as_ref()
            .is_some_and(|proof| !proof.remembered)
        {
            // The proof's replay check waits for the store.
            return None;
        }
        let (Some(checks), Some(facts)) = (&self.checks, &authenticated.facts) else {
            return Some(Ok(()));
        };
        if let Err(rejection) = checks.run_now(facts, span)? {
            return Some(Err(rejection));
        }
        if let Some(facts) = authenticated.facts.take() {
            checks.insert(extensions, None, facts);
        }
        Some(Ok(()))
    }

    /// The rejection of a request refused for `error`, traced in `span` (entered here; inside
    /// the slow path's instrumented future it is entered already, which tracing allows).
    fn refuse(
        &self,
        error: &AuthError,
        cause: Option<&BoxError>,
        head: &RequestHead<'_>,
        span: &DecisionSpan,
    ) -> Response<crate::error::Body> {
        span.decided(Verdict::Refused(error));
        let _entered = span.enter();
        error.trace_with_cause(cause.map(|cause| cause as &dyn fmt::Display));
        self.error_handler.render(error, head)
    }

    /// What the response future needs to write, clear or renew the session cookies, and to
    /// send a DPoP client its next nonce.
    fn reply(&self, way_out: WayOut) -> Option<Reply> {
        if self.sessions.is_none() && way_out.nonce.is_none() {
            return None;
        }
        Some(Reply {
            sessions: self.sessions.clone(),
            renew: way_out.renew,
            nonce: way_out.nonce,
        })
    }

    /// The asynchronous rest: a key refresh and a second verification, then the revocation
    /// check and user lookup, then the inner service; or the rejection.
    async fn finish<S, ReqBody, ResBody>(
        self: Arc<Self>,
        mut inner: S,
        mut request: Request<ReqBody>,
        decision: Decision,
        span: DecisionSpan,
    ) -> Result<Response<ResponseBody<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        // The span covers the decision, not the inner service.
        let settled = self
            .settle(&mut request, decision, &span)
            .instrument(span.span())
            .await;
        let way_out = match settled {
            Ok(way_out) => way_out,
            Err(rejection) => return Ok(rejection),
        };
        self.hand_rendering(request.extensions_mut());
        let response = inner.call(request).await?;
        Ok(finish_response(response, self.reply(way_out)))
    }

    /// Settles a decision that needs asynchronous work: puts what handlers read into the
    /// request and returns what the way out needs, or the rejection.
    async fn settle<ReqBody, ResBody>(
        &self,
        request: &mut Request<ReqBody>,
        decision: Decision,
        span: &DecisionSpan,
    ) -> Result<WayOut, Response<ResponseBody<ResBody>>> {
        // A verified decision comes here after `check_now`, which ran the checks unless a
        // proof's replay check had to wait; a refreshed one does not.
        let after_check_now = matches!(
            &decision,
            Decision::Verified(authenticated)
                if authenticated.proof.as_ref().is_none_or(|proof| proof.remembered)
        );
        let mut authenticated = match decision {
            Decision::Anonymous => {
                request.extensions_mut().insert(Authentication::Anonymous);
                span.decided(Verdict::Anonymous);
                return Ok(WayOut::default());
            }
            Decision::Verified(authenticated) => authenticated,
            #[cfg(feature = "jwks")]
            Decision::Refresh {
                token,
                tenant,
                refresh,
            } => {
                refresh.await;
                let head = RequestHead::of(request);
                match self.authenticate(&token.found(), tenant, &head, span) {
                    Ok(authenticated) => authenticated,
                    Err(error) => return Err(self.reject(&error, None, request, span)),
                }
            }
        };
        if let (Some(dpop), Some(proof)) = (&self.dpop, authenticated.proof.as_deref_mut())
            && let Err(error) = dpop.remember(proof).await
        {
            return Err(self.reject(&error, None, request, span));
        }
        if let (Some(checks), Some(facts)) = (&self.checks, authenticated.facts.take()) {
            match checks.run(&facts, span, after_check_now).await {
                Ok(insert_user) => checks.insert(request.extensions_mut(), insert_user, facts),
                Err((error, cause)) => {
                    return Err(self.reject(&error, cause.as_ref(), request, span));
                }
            }
        }
        span.decided(Verdict::Authenticated);
        Ok(authenticated.hand_over(request.extensions_mut()))
    }

    /// Lets the guards behind the layer render their rejections as the layer does.
    fn hand_rendering(&self, extensions: &mut http::Extensions) {
        if let Some(rendering) = &self.rendering {
            extensions.insert(rendering.clone());
        }
    }

    fn reject<ReqBody, B>(
        &self,
        error: &AuthError,
        cause: Option<&BoxError>,
        request: &Request<ReqBody>,
        span: &DecisionSpan,
    ) -> Response<ResponseBody<B>> {
        self.refuse(error, cause, &RequestHead::of(request), span)
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
        let span = DecisionSpan::new();
        match shared.decide(&RequestHead::of(&request), &span) {
            Ok(Decision::Anonymous) => {
                span.decided(Verdict::Anonymous);
                let extensions = request.extensions_mut();
                extensions.insert(Authentication::Anonymous);
                shared.hand_rendering(extensions);
                ResponseFuture::inner(self.inner.call(request), shared.reply(WayOut::default()))
            }
            Ok(Decision::Verified(mut authenticated)) => {
                let extensions = request.extensions_mut();
                match shared.check_now(&mut authenticated, extensions, &span) {
                    // The fast path: nothing asynchronous left, no box.
                    Some(Ok(())) => {
                        span.decided(Verdict::Authenticated);
                        let reply = shared.reply(authenticated.hand_over(extensions));
                        shared.hand_rendering(extensions);
                        ResponseFuture::inner(self.inner.call(request), reply)
                    }
                    Some(Err((error, cause))) => {
                        let head = RequestHead::of(&request);
                        ResponseFuture::rejected(shared.refuse(
                            &error,
                            cause.as_ref(),
                            &head,
                            &span,
                        ))
                    }
                    None => self.finish_later(request, Decision::Verified(authenticated), span),
                }
            }
            #[cfg(feature = "jwks")]
            Ok(decision @ Decision::Refresh { .. }) => self.finish_later(request, decision, span),
            Err(error) => {
                let head = RequestHead::of(&request);
                ResponseFuture::rejected(shared.refuse(&error, None, &head, &span))
            }
        }
    }
}

impl<S, C> JwtService<S, C>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    /// Hands the request, and what remains of its decision, to a boxed future.
    fn finish_later<ReqBody, ResBody>(
        &mut self,
        request: Request<ReqBody>,
        decision: Decision,
        span: DecisionSpan,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send,
        ReqBody: Send + 'static,
        ResBody: Send + 'static,
    {
        // The instance that was polled ready serves this request.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let shared = self.shared.clone();
        let finish = shared.finish(inner, request, decision, span);
        ResponseFuture::slow(Box::pin(finish))
    }
}
