//! Byte classes checked over every byte of every token: table lookups, branch-free within a
//! chunk, instead of a chain of comparisons per byte.

/// A set of bytes, as a table.
pub(crate) struct ByteSet([bool; 256]);

impl ByteSet {
    /// `A-Z a-z 0-9` and the given extra bytes.
    const fn alphanumeric_and(extra: &[u8]) -> Self {
        let mut table = [false; 256];
        let mut byte = 0;
        while byte < 256 {
            table[byte] = (byte as u8).is_ascii_alphanumeric();
            byte += 1;
        }
        let mut i = 0;
        while i < extra.len() {
            table[extra[i] as usize] = true;
            i += 1;
        }
        Self(table)
    }

    pub(crate) fn contains(&self, byte: u8) -> bool {
        self.0[usize::from(byte)]
    }

    /// Whether every byte of `bytes` is in the set.
    pub(crate) fn contains_all(&self, bytes: &[u8]) -> bool {
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            // No early exit inside a chunk: sixteen independent lookups.
            if !chunk.iter().fold(true, |all, &b| all & self.contains(b)) {
                return false;
            }
        }
        chunks.remainder().iter().all(|&b| self.contains(b))
    }
}

/// The base64url alphabet (RFC 4648 §5), without padding.
pub(crate) const BASE64URL: ByteSet = ByteSet::alphanumeric_and(b"-_");

/// RFC 6750 §2.1 `b64token` characters, padding aside.
pub(crate) const B64TOKEN: ByteSet = ByteSet::alphanumeric_and(b"-._~+/");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sets_hold_exactly_their_bytes() {
        for byte in 0..=255u8 {
            let alnum = byte.is_ascii_alphanumeric();
            assert_eq!(BASE64URL.contains(byte), alnum || b"-_".contains(&byte));
            assert_eq!(B64TOKEN.contains(byte), alnum || b"-._~+/".contains(&byte));
        }
    }

    #[test]
    fn contains_all_checks_every_position() {
        let good = [b'a'; 40];
        assert!(BASE64URL.contains_all(&good));
        assert!(BASE64URL.contains_all(b""));
        for position in 0..good.len() {
            for bad in [b'.', b'=', 0, 0xff, b' '] {
                let mut bytes = good;
                bytes[position] = bad;
                assert!(!BASE64URL.contains_all(&bytes), "{position} {bad}");
            }
        }
    }
}
