//! The asynchronous part of authentication: the revocation check and the user lookup, run
//! after the token is verified and before the inner service is called.
//!
//! A store that answers at once (in memory) and no user lookup settle them on the layer's
//! synchronous path. Otherwise the layer runs them in a boxed future (`Shared::finish`).
//! Written as a hand-made state machine it would have to own the inner service, the request, a
//! key refresh and two store futures across four states; the box costs one allocation next to
//! a store round trip.

use std::sync::Arc;
use std::time::Duration;

use http::Extensions;

use crate::error::BoxError;
use crate::error::{AuthError, explained};
use crate::revocation::{RevocationStore, Revoker, TokenFacts};
use crate::telemetry::{self, Backend, DecisionSpan};
use crate::user::{InsertUser, UserLookup};

/// The default bound on each store or lookup call.
pub const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The configured asynchronous checks.
pub(crate) struct AsyncChecks {
    pub(crate) revocations: Option<Arc<dyn RevocationStore>>,
    pub(crate) revoker: Option<Revoker>,
    pub(crate) user_lookup: Option<UserLookup>,
    pub(crate) timeout: Duration,
    pub(crate) revocation_fail_open: bool,
}

/// A rejection of the asynchronous checks, with the backend failure behind a 503.
pub(crate) type Rejection = (AuthError, Option<BoxError>);

impl AsyncChecks {
    /// Puts what the handlers may ask for into the request.
    pub(crate) fn insert(
        &self,
        extensions: &mut Extensions,
        insert_user: Option<InsertUser>,
        facts: TokenFacts,
    ) {
        if let Some(insert_user) = insert_user {
            insert_user(extensions);
        }
        if let Some(revoker) = &self.revoker {
            extensions.insert(revoker.clone());
        }
        extensions.insert(facts);
    }

    /// The checks settled without waiting: when no user lookup is configured and the
    /// revocation store answers at once. `None` when they need [`run`](Self::run). The store
    /// is asked only when no user lookup is configured.
    pub(crate) fn run_now(
        &self,
        facts: &TokenFacts,
        span: &DecisionSpan,
    ) -> Option<Result<(), Rejection>> {
        if self.user_lookup.is_some() {
            return None;
        }
        let Some(revocations) = &self.revocations else {
            return Some(Ok(()));
        };
        let started = span.backend_timer();
        let answer = revocations.is_revoked_now(facts)?;
        span.backend_done(Backend::Revocation, started);
        Some(self.judge_revocation(Ok(answer)))
    }

    /// Runs the revocation check, then the user lookup, recording their times on `span`.
    /// `after_run_now`: [`run_now`](Self::run_now) was tried first, so the store is not asked
    /// again for an answer at once.
    pub(crate) async fn run(
        &self,
        facts: &TokenFacts,
        span: &DecisionSpan,
        after_run_now: bool,
    ) -> Result<Option<InsertUser>, Rejection> {
        if let Some(revocations) = &self.revocations {
            let started = span.backend_timer();
            let asked_now = after_run_now && self.user_lookup.is_none();
            let now = (!asked_now)
                .then(|| revocations.is_revoked_now(facts))
                .flatten();
            let answer = match now {
                Some(answer) => Ok(answer),
                None => tokio::time::timeout(self.timeout, revocations.is_revoked(facts)).await,
            };
            span.backend_done(Backend::Revocation, started);
            self.judge_revocation(answer)?;
        }
        let Some(lookup) = &self.user_lookup else {
            return Ok(None);
        };
        let sub = facts.claims.sub.clone().ok_or_else(|| {
            let why =
                format_args!("a user lookup is configured and `sub` is absent or not a string");
            (explained(AuthError::MissingSubject, why), None)
        })?;
        let started = span.backend_timer();
        let answer = tokio::time::timeout(self.timeout, lookup(sub)).await;
        span.backend_done(Backend::UserLookup, started);
        match answer {
            Ok(Ok(Some(insert))) => Ok(Some(insert)),
            Ok(Ok(None)) => {
                let why = format_args!("the user lookup found no user for the token's `sub`");
                Err((explained(AuthError::UnknownSubject, why), None))
            }
            Ok(Err(cause)) => {
                telemetry::backend_failed(Backend::UserLookup, false);
                Err((AuthError::BackendUnavailable, Some(cause)))
            }
            Err(_) => {
                telemetry::backend_failed(Backend::UserLookup, true);
                Err((
                    AuthError::BackendUnavailable,
                    Some("user lookup timed out".into()),
                ))
            }
        }
    }

    /// What the store's answer (or its timeout) means for the request.
    fn judge_revocation(
        &self,
        answer: Result<Result<bool, BoxError>, tokio::time::error::Elapsed>,
    ) -> Result<(), Rejection> {
        match answer {
            Ok(Ok(false)) => Ok(()),
            Ok(Ok(true)) => {
                let why =
                    format_args!("the revocation store lists the token, its login or its subject");
                Err((explained(AuthError::Revoked, why), None))
            }
            Ok(Err(cause)) => {
                telemetry::backend_failed(Backend::Revocation, false);
                self.revocation_failed(cause)
            }
            Err(_) => {
                telemetry::backend_failed(Backend::Revocation, true);
                self.revocation_failed("revocation check timed out".into())
            }
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
