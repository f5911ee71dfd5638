//! Signature verifiers built once per key and thread instead of once per request.
//!
//! `jsonwebtoken`'s provider hands out a `Box<dyn JwtVerifier>` per call, and that trait object
//! is neither `Send` nor `Sync`, so one verifier cannot be shared by a runtime's threads.
//! Building one per request costs an allocation plus the key's set-up: the HMAC key schedule,
//! or parsing an RSA modulus or an EC point. So each thread keeps the verifiers it built for the
//! last few keys it used, next to a reusable buffer for the signature (the verifier takes it
//! as a `Vec`).
//!
//! A key is known by an id given when it is prepared and never reused, so a verifier can only
//! ever be found again for the very key material it was built from.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::Algorithm;
use jsonwebtoken::crypto::JwtVerifier;

/// How many verifiers a thread keeps. Enough for every key of a usual configuration (a few
/// static keys, an identity provider's current and next key); past it the oldest goes.
const PER_THREAD: usize = 16;

/// A fresh key id, for a key being prepared.
pub(crate) fn next_key_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Entry {
    key_id: u64,
    algorithm: Algorithm,
    verifier: Box<dyn JwtVerifier>,
}

struct ThreadVerifiers {
    entries: VecDeque<Entry>,
    signature: Vec<u8>,
}

thread_local! {
    static VERIFIERS: RefCell<ThreadVerifiers> = const {
        RefCell::new(ThreadVerifiers {
            entries: VecDeque::new(),
            signature: Vec::new(),
        })
    };
}

/// Why a signature was not checked, or did not hold.
pub(crate) enum Failure<E> {
    /// The verifier could not be built.
    Build(E),
    /// The signature does not hold.
    Mismatch,
}

/// Checks `signature` over `message` with this thread's verifier for (`key_id`,
/// `algorithm`), built with `build` when the thread has none.
pub(crate) fn verify<E>(
    key_id: u64,
    algorithm: Algorithm,
    build: impl FnOnce() -> Result<Box<dyn JwtVerifier>, E>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Failure<E>> {
    let mut build = Some(build);
    let cached = VERIFIERS.try_with(|cell| {
        // Never borrowed across a call that could come back here, but a failed borrow must
        // not panic: it falls back to a one-off verifier below.
        let mut thread = cell.try_borrow_mut().ok()?;
        let ThreadVerifiers {
            entries,
            signature: buffer,
        } = &mut *thread;
        let position = entries
            .iter()
            .position(|entry| entry.key_id == key_id && entry.algorithm == algorithm);
        let entry = match position {
            Some(position) => &entries[position],
            None => {
                let build = build.take()?;
                let verifier = match build() {
                    Ok(verifier) => verifier,
                    Err(error) => return Some(Err(Failure::Build(error))),
                };
                if entries.len() == PER_THREAD {
                    entries.pop_front();
                }
                entries.push_back(Entry {
                    key_id,
                    algorithm,
                    verifier,
                });
                entries.back()?
            }
        };
        Some(check(&*entry.verifier, message, signature, buffer))
    });
    match cached {
        Ok(Some(result)) => result,
        // The thread is shutting down or the cell is busy: build a verifier for this call only.
        _ => {
            let build = build.ok_or(Failure::Mismatch)?;
            let verifier = build().map_err(Failure::Build)?;
            check(&*verifier, message, signature, &mut Vec::new())
        }
    }
}

fn check<E>(
    verifier: &dyn JwtVerifier,
    message: &[u8],
    signature: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<(), Failure<E>> {
    buffer.clear();
    buffer.extend_from_slice(signature);
    verifier
        .verify(message, buffer)
        .map_err(|_| Failure::Mismatch)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, EncodingKey};

    use super::*;

    /// More keys than a thread keeps, used in turns: each check uses its own key's verifier,
    /// never a verifier left from another key, and the thread keeps at most `PER_THREAD`.
    #[test]
    fn verifiers_follow_their_key_past_the_per_thread_bound() {
        // Also installs the provider as jsonwebtoken's default, which `sign` uses.
        let provider = crate::keys::crypto_provider();
        let secrets: Vec<Vec<u8>> = (0..PER_THREAD as u8 + 4).map(|i| vec![i; 32]).collect();
        let ids: Vec<u64> = secrets.iter().map(|_| next_key_id()).collect();
        let message = b"header.payload";
        let signatures: Vec<Vec<u8>> = secrets
            .iter()
            .map(|secret| {
                let signature = jsonwebtoken::crypto::sign(
                    message,
                    &EncodingKey::from_secret(secret),
                    Algorithm::HS256,
                )
                .unwrap();
                crate::jws::decode_base64url(&signature).unwrap()
            })
            .collect();
        for _ in 0..3 {
            for (i, secret) in secrets.iter().enumerate() {
                let build = || {
                    (provider.verifier_factory)(
                        &Algorithm::HS256,
                        &DecodingKey::from_secret(secret),
                    )
                };
                assert!(verify(ids[i], Algorithm::HS256, build, message, &signatures[i]).is_ok());
                let other = &signatures[(i + 1) % signatures.len()];
                assert!(matches!(
                    verify(ids[i], Algorithm::HS256, build, message, other),
                    Err(Failure::Mismatch)
                ));
                assert!(matches!(
                    verify(ids[i], Algorithm::HS256, build, message, b""),
                    Err(Failure::Mismatch)
                ));
            }
        }
        let kept = VERIFIERS.with(|cell| cell.borrow().entries.len());
        assert_eq!(kept, PER_THREAD);
    }
}
