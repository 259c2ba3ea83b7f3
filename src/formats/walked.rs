//! What the bounded walkers of binary value formats (XGBoost's UBJSON, Flax's msgpack) share:
//! the error that stops a walk, with the offset where it stopped, and the strings a walk keeps
//! for the signature scan.

use std::ops::Deref;

/// Strings handed to the signature scan per walk, all together.
const MAX_STRING_BYTES: usize = 4 << 20;

/// Why a walk stopped, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub at: usize,
    pub why: String,
}

/// The error at `at`.
pub fn err(at: usize, why: impl Into<String>) -> Error {
    Error {
        at,
        why: why.into(),
    }
}

/// Strings of four bytes or more a walk found, with their offsets, up to a total size; read
/// as a slice of `(offset, text)`.
#[derive(Debug, Default)]
pub struct Strings {
    list: Vec<(usize, String)>,
    bytes: usize,
}

impl Strings {
    /// Keeps `bytes` found at `at` (lossily as UTF-8) while the total allows.
    pub fn note(&mut self, at: usize, bytes: &[u8]) {
        if bytes.len() >= 4 && self.bytes + bytes.len() <= MAX_STRING_BYTES {
            self.bytes += bytes.len();
            self.list
                .push((at, String::from_utf8_lossy(bytes).into_owned()));
        }
    }
}

impl Deref for Strings {
    type Target = [(usize, String)];

    fn deref(&self) -> &Self::Target {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_and_strings_past_the_total_are_not_kept() {
        let mut strings = Strings::default();
        strings.note(0, b"abc");
        strings.note(3, b"abcd");
        strings.note(7, &vec![b'x'; MAX_STRING_BYTES]);
        assert_eq!(&*strings, &[(3, "abcd".to_owned())]);
        assert_eq!(
            err(5, "why"),
            Error {
                at: 5,
                why: "why".to_owned()
            }
        );
    }
}
