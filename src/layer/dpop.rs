//! DPoP at the layer (RFC 9449 §7): which schemes a request may use, and the proof and key
//! binding checked once the token itself is verified.

use crate::dpop::{DpopError, DpopProof, DpopVerifier, RequestOrigin};
use crate::error::{AuthError, explained};
use crate::request::RequestHead;
use crate::source::FoundToken;
use crate::verify::KeyBinding;

/// Whether a layer takes bearer tokens next to DPoP ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopMode {
    /// Bearer tokens and DPoP tokens. A token bound to a key (`cnf.jkt`) is still refused as a
    /// bearer token: only its holder's proof makes it good.
    Allowed,
    /// DPoP tokens only: anything else is refused with `dpop_required`.
    Required,
}

/// A layer's DPoP configuration, checked by the builder.
pub(super) struct LayerDpop {
    pub(super) verifier: DpopVerifier,
    pub(super) origin: RequestOrigin,
    pub(super) mode: DpopMode,
}

impl LayerDpop {
    /// What the scheme alone decides, before the token is verified: a DPoP layer's required
    /// scheme.
    pub(super) fn check_scheme(&self, token: &FoundToken<'_>) -> Result<(), AuthError> {
        if self.mode == DpopMode::Required && !token.is_dpop() {
            return Err(explained(
                AuthError::DpopRequired,
                format_args!("DPoP is required and the token came without the DPoP scheme"),
            ));
        }
        Ok(())
    }

    /// Checks a verified token's proof and binding: a `DPoP` token needs a valid proof by the
    /// key its `cnf.jkt` names; any other token must not be bound to a key. Returns the proof
    /// of a `DPoP` token.
    pub(super) fn check(
        &self,
        token: &FoundToken<'_>,
        binding: &KeyBinding,
        head: &RequestHead<'_>,
    ) -> Result<Option<DpopProof>, AuthError> {
        if !token.is_dpop() {
            return match binding {
                KeyBinding::Unbound => Ok(None),
                KeyBinding::Jkt(_) | KeyBinding::Unreadable => Err(explained(
                    AuthError::DpopBoundToken,
                    format_args!("a token bound by cnf came without the DPoP scheme"),
                )),
            };
        }
        let refused = |error: DpopError| match error {
            // The server's to fix: the verifier logged it at ERROR.
            DpopError::ReplayCacheFull => AuthError::BackendUnavailable,
            DpopError::NonceRequired => explained(AuthError::UseDpopNonce, format_args!("{error}")),
            error => explained(
                AuthError::InvalidDpopProof(error.clone()),
                format_args!("{error}"),
            ),
        };
        let proof = DpopVerifier::proof_in(head.headers()).map_err(refused)?;
        let Some(uri) = self.origin.target_uri(head) else {
            return Err(explained(
                AuthError::InvalidDpopProof(DpopError::UriMismatch),
                format_args!("the request's URI cannot be told (no single Host header)"),
            ));
        };
        let proof = self
            .verifier
            .verify(proof, head.method(), &uri, Some(token.as_str()))
            .map_err(refused)?;
        match binding {
            KeyBinding::Jkt(jkt) if *jkt == proof.thumbprint() => Ok(Some(proof)),
            KeyBinding::Jkt(_) => Err(explained(
                AuthError::DpopKeyMismatch,
                format_args!("cnf.jkt is not the thumbprint of the proof's key"),
            )),
            KeyBinding::Unbound | KeyBinding::Unreadable => Err(explained(
                AuthError::DpopKeyMismatch,
                format_args!("a DPoP token without a readable cnf.jkt"),
            )),
        }
    }

    /// The proof algorithms, as the challenge's `algs` lists them.
    pub(super) fn algs(&self) -> String {
        let names: Vec<String> = self
            .verifier
            .algorithms()
            .iter()
            .map(|alg| format!("{alg:?}"))
            .collect();
        names.join(" ")
    }
}
