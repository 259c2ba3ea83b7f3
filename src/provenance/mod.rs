//! Provenance: admit a model once (scan, then sign what was scanned), verify at deploy time
//! that the bytes are exactly the admitted ones, keep a tamper-evident log of every scan,
//! admission and verification, and say what changed between two releases.
//!
//! Signatures are OpenSSF Model Signing (OMS) bundles, as `model_signing sign key` writes
//! them ([`oms`]); the admission is a second in-toto statement over the same files
//! ([`attest`]), signed the same way. Keys are ECDSA P-256 ([`keys`]).

pub mod admit;
pub mod attest;
pub mod cli;
pub mod diff;
pub mod keys;
pub mod log;
pub mod oms;
pub mod verify;

/// Now, RFC 3339 UTC to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// SHA-256 of what decides a verdict besides the settings: the built-in rule registry, the
/// pickle import tables and the signature rules (their source hash).
pub fn rules_sha256(signatures: Option<&crate::signatures::Signatures>) -> String {
    crate::scan::rules_sha256(signatures)
}
