//! The asynchronous part of authentication: the revocation check and the user lookup, run
//! after the token is verified and before the inner service is called.
//!
//! This path returns a boxed future. Written as a hand-made state machine it would have to own
//! the inner service, the request and two store futures across three states; the box costs one
//! allocation next to a store round trip, and requests without asynchronous checks never take
//! this path.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower_service::Service;

use crate::error::{AuthError, ErrorHandler};
use crate::layer::{BoxError, ResponseBody};
use crate::revocation::{Revocations, Revoker, TokenFacts};
use crate::user::{InsertUser, UserLookup};

/// The default bound on each store or lookup call.
pub const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The configured asynchronous checks.
pub(crate) struct AsyncChecks {
    pub(crate) revocations: Option<Arc<dyn Revocations>>,
    pub(crate) revoker: Option<Revoker>,
    pub(crate) user_lookup: Option<UserLookup>,
    pub(crate) timeout: Duration,
    pub(crate) revocation_fail_open: bool,
}

/// A rejection of the asynchronous checks, with the backend failure behind a 503.
type Rejection = (AuthError, Option<BoxError>);

impl AsyncChecks {
    async fn run(&self, facts: &TokenFacts) -> Result<Option<InsertUser>, Rejection> {
        if let Some(revocations) = &self.revocations {
            match tokio::time::timeout(self.timeout, revocations.is_revoked(facts)).await {
                Ok(Ok(false)) => {}
                Ok(Ok(true)) => return Err((AuthError::Revoked, None)),
                Ok(Err(cause)) => self.revocation_failed(cause)?,
                Err(_) => self.revocation_failed("revocation check timed out".into())?,
            }
        }
        let Some(lookup) = &self.user_lookup else {
            return Ok(None);
        };
        let sub = facts.sub.clone().ok_or((AuthError::MissingSubject, None))?;
        match tokio::time::timeout(self.timeout, lookup(sub)).await {
            Ok(Ok(Some(insert))) => Ok(Some(insert)),
            Ok(Ok(None)) => Err((AuthError::UnknownSubject, None)),
            Ok(Err(cause)) => Err((AuthError::BackendUnavailable, Some(cause))),
            Err(_) => Err((
                AuthError::BackendUnavailable,
                Some("user lookup timed out".into()),
            )),
        }
    }

    fn revocation_failed(&self, cause: BoxError) -> Result<(), Rejection> {
        if self.revocation_fail_open {
            tracing::warn!(
                target: "tower_jwt_auth",
                %cause,
                "revocation check failed; letting the request through (fail-open is configured)"
            );
            Ok(())
        } else {
            Err((AuthError::BackendUnavailable, Some(cause)))
        }
    }
}

/// Runs the checks, then the inner service, or renders the rejection.
pub(crate) fn checked_call<S, ReqBody, ResBody>(
    checks: Arc<AsyncChecks>,
    error_handler: Arc<dyn ErrorHandler>,
    mut inner: S,
    mut request: Request<ReqBody>,
    facts: TokenFacts,
) -> BoxFuture<'static, Result<Response<ResponseBody<ResBody>>, S::Error>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
{
    Box::pin(async move {
        match checks.run(&facts).await {
            Ok(insert_user) => {
                let extensions = request.extensions_mut();
                if let Some(insert_user) = insert_user {
                    insert_user(extensions);
                }
                if let Some(revoker) = &checks.revoker {
                    extensions.insert(revoker.clone());
                }
                extensions.insert(facts);
                let response = inner.call(request).await?;
                Ok(response.map(ResponseBody::inner))
            }
            Err((error, cause)) => {
                error.trace_with_cause(cause.as_ref().map(|cause| cause as &dyn fmt::Display));
                Ok(error_handler.render(&error).map(ResponseBody::rejection))
            }
        }
    })
}
