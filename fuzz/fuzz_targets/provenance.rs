//! Signature bundles, signed statements and audit logs on arbitrary bytes: no panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use quarantine::provenance::keys::PublicKey;
use quarantine::provenance::oms::{Bundle, Manifest};
use quarantine::provenance::{attest, log};

static KEY: LazyLock<PublicKey> = LazyLock::new(|| {
    PublicKey::from_pem(
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhluJqfOCG1EqaXlu2t4PhgurqtZX\nYhYVppk/00BlQ9O9UVHEkfgM0NWOCnjAxAVNJ1mIBTeGpfRuvQtJ2ObEGA==\n-----END PUBLIC KEY-----\n",
        "fuzz",
    )
    .expect("key")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::parse(data) {
        let _ = bundle.verify(&KEY);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(m) = Manifest::from_statement(&value) {
            let _ = m.root_digest();
        }
        let _ = attest::parse(&value);
    }
    let _ = log::verify_reader(data, Some(&KEY), Some("00"));
});
