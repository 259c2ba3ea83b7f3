//! SHA-256 digests of artifacts and members.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// The raw SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Hex SHA-256 of `data`, hashed in chunks; `done` is told of each chunk once it is hashed, so
/// the caller can let go of pages it will not read again (see [`super::mmap::Mapped::release`]).
pub fn sha256_hex_chunked(data: &[u8], done: &dyn Fn(&[u8])) -> String {
    const CHUNK: usize = 16 << 20;
    let mut hasher = Sha256::new();
    for chunk in data.chunks(CHUNK) {
        hasher.update(chunk);
        done(chunk);
    }
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_digest_equals_whole() {
        let data: Vec<u8> = (0..(40u32 << 20)).map(|i| (i % 251) as u8).collect();
        let chunks = std::cell::Cell::new(0);
        let chunked = super::sha256_hex_chunked(&data, &|_| chunks.set(chunks.get() + 1));
        assert_eq!(chunked, super::sha256_hex(&data));
        assert_eq!(chunks.get(), 3);
    }

    #[test]
    fn known_digest() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
