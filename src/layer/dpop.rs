//! DPoP at the layer (RFC 9449 §7): which schemes a request may use, and the proof and key
//! binding checked once the token itself is verified.

use crate::dpop::{CheckedProof, DpopError, DpopVerifier, RequestOrigin};
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

/// A proof that passed the checks, and whether its replay check is done.
pub(super) struct AcceptedProof {
    pub(super) checked: CheckedProof,
    pub(super) remembered: bool,
}

/// The refusal of a proof: `invalid_dpop_proof`, `use_dpop_nonce`, or a 503 when the replay
/// check could not be made (the verifier logged why at ERROR).
fn refusal(error: DpopError) -> AuthError {
    match error {
        DpopError::ReplayCacheFull | DpopError::ReplayStoreUnavailable => {
            AuthError::BackendUnavailable
        }
        DpopError::NonceRequired => explained(AuthError::UseDpopNonce, format_args!("{error}")),
        error => explained(
            AuthError::InvalidDpopProof(error.clone()),
            format_args!("{error}"),
        ),
    }
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
    /// of a `DPoP` token, remembered against replays when the verifier's memory does it at
    /// once, or left for [`remember`](Self::remember).
    pub(super) fn check(
        &self,
        token: &FoundToken<'_>,
        binding: &KeyBinding,
        head: &RequestHead<'_>,
    ) -> Result<Option<AcceptedProof>, AuthError> {
        if !token.is_dpop() {
            return match binding {
                KeyBinding::Unbound => Ok(None),
                KeyBinding::Jkt(_) | KeyBinding::Unreadable => Err(explained(
                    AuthError::DpopBoundToken,
                    format_args!("a token bound by cnf came without the DPoP scheme"),
                )),
            };
        }
        let proof = DpopVerifier::proof_in(head.headers()).map_err(refusal)?;
        let Some(uri) = self.origin.target_uri(head) else {
            return Err(explained(
                AuthError::InvalidDpopProof(DpopError::UriMismatch),
                format_args!("the request's URI cannot be told (no single Host header)"),
            ));
        };
        let checked = self
            .verifier
            .check(proof, head.method(), &uri, Some(token.as_str()))
            .map_err(refusal)?;
        // The binding before the replay check: a proof by another key is not remembered.
        match binding {
            KeyBinding::Jkt(jkt) if *jkt == checked.proof.thumbprint() => {}
            KeyBinding::Jkt(_) => {
                return Err(explained(
                    AuthError::DpopKeyMismatch,
                    format_args!("cnf.jkt is not the thumbprint of the proof's key"),
                ));
            }
            KeyBinding::Unbound | KeyBinding::Unreadable => {
                return Err(explained(
                    AuthError::DpopKeyMismatch,
                    format_args!("a DPoP token without a readable cnf.jkt"),
                ));
            }
        }
        let remembered = match self.verifier.remember_now(&checked) {
            Some(answer) => {
                answer.map_err(refusal)?;
                true
            }
            None => false,
        };
        Ok(Some(AcceptedProof {
            checked,
            remembered,
        }))
    }

    /// The replay check left to the store: the request waits for it.
    pub(super) async fn remember(&self, proof: &mut AcceptedProof) -> Result<(), AuthError> {
        if !proof.remembered {
            self.verifier
                .remember(&proof.checked)
                .await
                .map_err(refusal)?;
            proof.remembered = true;
        }
        Ok(())
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
