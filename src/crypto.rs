//! The hashes, MACs and randomness the crate needs besides signatures, from the crypto backend
//! the build selects: aws-lc-rs when the `aws-lc-rs` feature is on, RustCrypto's `sha2` and
//! `hmac` with `getrandom` otherwise. A default build so carries one implementation of each
//! (BENCHMARKS.md has what the RustCrypto HMAC was faster by, and why it went).

/// A hash function of the SHA-2 family, as HMAC is keyed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sha {
    Sha256,
    Sha384,
    Sha512,
}

/// The randomness of the operating system could not be read.
#[derive(Debug)]
pub(crate) struct NoRandomness;

/// Fills `bytes` from the operating system's CSPRNG.
pub(crate) fn fill_random(bytes: &mut [u8]) -> Result<(), NoRandomness> {
    backend::fill_random(bytes)
}

/// The SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    backend::sha256(parts)
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only.
pub(crate) fn equal(a: &[u8], b: &[u8]) -> bool {
    backend::equal(a, b)
}

/// An HMAC key, its state prepared once and reused for every message.
#[derive(Clone)]
pub(crate) struct HmacKey(backend::HmacKey);

/// An HMAC tag: up to 64 bytes (HMAC-SHA-512).
pub(crate) struct Tag {
    bytes: [u8; 64],
    len: usize,
}

impl AsRef<[u8]> for Tag {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl HmacKey {
    /// HMAC with `sha`, keyed with `key` (HMAC takes keys of any length).
    pub(crate) fn new(sha: Sha, key: &[u8]) -> Self {
        Self(backend::HmacKey::new(sha, key))
    }

    /// The tag of the concatenation of `parts`.
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> Tag {
        self.0.sign(parts)
    }

    /// Whether `tag` is the whole tag of `message`, compared in constant time; a tag of
    /// another length (a truncated one included) is refused.
    pub(crate) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        self.0.verify(message, tag)
    }
}

#[cfg(feature = "aws-lc-rs")]
mod backend {
    use aws_lc_rs::{constant_time, digest, hmac, rand};

    use super::{NoRandomness, Sha, Tag};

    pub(super) fn fill_random(bytes: &mut [u8]) -> Result<(), NoRandomness> {
        rand::fill(bytes).map_err(|_| NoRandomness)
    }

    pub(super) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
        let mut context = digest::Context::new(&digest::SHA256);
        for part in parts {
            context.update(part);
        }
        let mut out = [0; 32];
        out.copy_from_slice(context.finish().as_ref());
        out
    }

    pub(super) fn equal(a: &[u8], b: &[u8]) -> bool {
        constant_time::verify_slices_are_equal(a, b).is_ok()
    }

    #[derive(Clone)]
    pub(super) struct HmacKey(hmac::Key);

    impl HmacKey {
        pub(super) fn new(sha: Sha, key: &[u8]) -> Self {
            let algorithm = match sha {
                Sha::Sha256 => hmac::HMAC_SHA256,
                Sha::Sha384 => hmac::HMAC_SHA384,
                Sha::Sha512 => hmac::HMAC_SHA512,
            };
            Self(hmac::Key::new(algorithm, key))
        }

        pub(super) fn sign(&self, parts: &[&[u8]]) -> Tag {
            let mut context = hmac::Context::with_key(&self.0);
            for part in parts {
                context.update(part);
            }
            let tag = context.sign();
            let mut bytes = [0; 64];
            let len = tag.as_ref().len();
            bytes[..len].copy_from_slice(tag.as_ref());
            Tag { bytes, len }
        }

        pub(super) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
            hmac::verify(&self.0, message, tag).is_ok()
        }
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
mod backend {
    use hmac::digest::KeyInit;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256, Sha384, Sha512};

    use super::{NoRandomness, Sha, Tag};

    pub(super) fn fill_random(bytes: &mut [u8]) -> Result<(), NoRandomness> {
        getrandom::fill(bytes).map_err(|_| NoRandomness)
    }

    pub(super) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
        let mut digest = Sha256::new();
        for part in parts {
            digest.update(part);
        }
        digest.finalize().into()
    }

    pub(super) fn equal(a: &[u8], b: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        a.ct_eq(b).into()
    }

    #[derive(Clone)]
    pub(super) enum HmacKey {
        Sha256(Hmac<Sha256>),
        Sha384(Hmac<Sha384>),
        Sha512(Hmac<Sha512>),
    }

    fn keyed<M: KeyInit>(key: &[u8]) -> M {
        // HMAC pads or hashes a key of any length; `new_from_slice` never refuses one.
        match M::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    fn tag_of<M: Mac>(mac: M) -> Tag {
        let out = mac.finalize().into_bytes();
        let mut bytes = [0; 64];
        bytes[..out.len()].copy_from_slice(&out);
        Tag {
            bytes,
            len: out.len(),
        }
    }

    impl HmacKey {
        pub(super) fn new(sha: Sha, key: &[u8]) -> Self {
            match sha {
                Sha::Sha256 => Self::Sha256(keyed(key)),
                Sha::Sha384 => Self::Sha384(keyed(key)),
                Sha::Sha512 => Self::Sha512(keyed(key)),
            }
        }

        pub(super) fn sign(&self, parts: &[&[u8]]) -> Tag {
            fn run<M: Mac + Clone>(key: &M, parts: &[&[u8]]) -> Tag {
                let mut mac = key.clone();
                for part in parts {
                    mac.update(part);
                }
                tag_of(mac)
            }
            match self {
                Self::Sha256(key) => run(key, parts),
                Self::Sha384(key) => run(key, parts),
                Self::Sha512(key) => run(key, parts),
            }
        }

        pub(super) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
            fn run<M: Mac + Clone>(key: &M, message: &[u8], tag: &[u8]) -> bool {
                let mut mac = key.clone();
                mac.update(message);
                mac.verify_slice(tag).is_ok()
            }
            match self {
                Self::Sha256(key) => run(key, message, tag),
                Self::Sha384(key) => run(key, message, tag),
                Self::Sha512(key) => run(key, message, tag),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: a short key and message, every SHA-2 size.
    #[test]
    fn hmac_matches_rfc_4231() {
        let key = b"Jefe";
        let message: &[u8] = b"what do ya want for nothing?";
        let expected = [
            (
                Sha::Sha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                Sha::Sha384,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
                 8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                Sha::Sha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (sha, hex) in expected {
            let key = HmacKey::new(sha, key);
            let tag = key.sign(&[&message[..4], &message[4..]]);
            let hex_tag: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex_tag, hex, "{sha:?}");
            assert!(key.verify(message, tag.as_ref()));
            assert!(!key.verify(message, &tag.as_ref()[..16]), "a truncated tag");
            assert!(!key.verify(b"what do ya want for something?", tag.as_ref()));
            let mut wrong = tag.as_ref().to_vec();
            wrong[0] ^= 1;
            assert!(!key.verify(message, &wrong));
        }
    }

    #[test]
    fn sha256_of_parts_is_that_of_their_concatenation() {
        let hex: String = sha256(&[b"a", b"bc"])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_bytes_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill_random(&mut a).unwrap();
        fill_random(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
