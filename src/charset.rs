//! Byte classes checked over every byte of every token. Each class is a few range and equality
//! comparisons, evaluated without early exit over fixed-size chunks so the compiler turns them
//! into vector instructions: a table lookup per byte cannot be vectorized, and on a cached
//! request these passes were the largest cost left.

/// A class of bytes: `A-Z a-z 0-9` and a few punctuation bytes.
pub(crate) trait ByteClass {
    /// Whether `byte` belongs to the class.
    fn contains(byte: u8) -> bool;

    /// Whether every byte of `bytes` belongs to the class.
    #[inline]
    fn contains_all(bytes: &[u8]) -> bool {
        // No early exit inside a chunk, and the misses OR-ed together as bytes: that is the
        // shape the compiler vectorizes (a fold over `bool`s it does not).
        let misses = |chunk: &[u8]| {
            chunk.iter().fold(0u8, |misses, &byte| {
                misses | u8::from(!Self::contains(byte))
            })
        };
        let mut chunks = bytes.chunks_exact(64);
        for chunk in &mut chunks {
            if misses(chunk) != 0 {
                return false;
            }
        }
        misses(chunks.remainder()) == 0
    }
}

#[inline(always)]
fn is_alphanumeric(byte: u8) -> bool {
    // Setting bit 5 maps `A-Z` onto `a-z` and moves no other byte into `a-z`.
    ((byte | 0x20).wrapping_sub(b'a') < 26) | (byte.wrapping_sub(b'0') < 10)
}

/// RFC 6750 §2.1 `b64token` characters, padding aside.
pub(crate) struct B64Token;

impl ByteClass for B64Token {
    #[inline(always)]
    fn contains(byte: u8) -> bool {
        is_alphanumeric(byte)
            | (byte == b'-')
            | (byte == b'.')
            | (byte == b'_')
            | (byte == b'~')
            | (byte == b'+')
            | (byte == b'/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classes_hold_exactly_their_bytes() {
        for byte in 0..=255u8 {
            let alnum = byte.is_ascii_alphanumeric();
            assert_eq!(B64Token::contains(byte), alnum || b"-._~+/".contains(&byte));
        }
    }

    #[test]
    fn contains_all_checks_every_position() {
        // Longer than two chunks, so a bad byte is tried in each chunk and in the remainder.
        let good = [b'a'; 80];
        assert!(B64Token::contains_all(&good));
        assert!(B64Token::contains_all(b""));
        for position in 0..good.len() {
            for bad in [b'!', b'=', 0, 0xff, b' ', b'@', b'[', b'`', b'{', 0xc1] {
                let mut bytes = good;
                bytes[position] = bad;
                assert!(!B64Token::contains_all(&bytes), "{position} {bad}");
                assert!(
                    !B64Token::contains_all(&bytes[position..]),
                    "{position} {bad}"
                );
            }
        }
    }
}
