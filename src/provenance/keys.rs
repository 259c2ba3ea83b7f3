//! ECDSA P-256 keys in PEM, what OpenSSF Model Signing uses for bare-key signatures (it also
//! takes P-384 and P-521; we write and read P-256 only). All cryptography is RustCrypto's
//! (`p256`, `ecdsa`, `pkcs8`, `sha2`); nothing here is home-made.
//!
//! Private keys: PKCS#8 `PRIVATE KEY` (what `keygen` writes) or SEC1 `EC PRIVATE KEY` (what
//! `openssl ecparam -genkey` writes). Public keys: SPKI `PUBLIC KEY`. Keys can come from a file
//! or, for CI, from an environment variable holding the PEM text.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};

use crate::zone::digest;

/// The environment variable read for the signing key when `--key` is not given (PEM text).
pub const SIGNING_KEY_ENV: &str = "QUARANTINE_SIGNING_KEY";
/// The environment variable read for the verification key when `--key` is not given.
pub const VERIFY_KEY_ENV: &str = "QUARANTINE_VERIFY_KEY";

/// A private key, ready to sign.
pub struct PrivateKey {
    key: SigningKey,
}

/// A public key, ready to verify.
#[derive(Clone)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PrivateKey {
    pub fn generate() -> Result<Self> {
        let key = SigningKey::try_generate()
            .map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
        Ok(PrivateKey { key })
    }

    /// Parses a PEM private key: PKCS#8 or SEC1, unencrypted.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self> {
        let pem = pem.trim_start();
        if pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            bail!(
                "{origin}: encrypted private keys are not supported; decrypt it \
                 (`openssl pkey -in KEY -out PLAIN`) into a file only you can read"
            );
        }
        if pem.starts_with("-----BEGIN EC PRIVATE KEY-----") {
            let secret = p256::SecretKey::from_sec1_pem(pem)
                .map_err(|e| anyhow::anyhow!("{origin}: not a P-256 SEC1 private key: {e}"))?;
            return Ok(PrivateKey {
                key: SigningKey::from(secret),
            });
        }
        if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            let key = SigningKey::from_pkcs8_pem(pem).map_err(|e| {
                anyhow::anyhow!("{origin}: not an ECDSA P-256 PKCS#8 private key: {e}")
            })?;
            return Ok(PrivateKey { key });
        }
        bail!("{origin}: not a PEM private key (want `-----BEGIN PRIVATE KEY-----`)")
    }

    /// `--key FILE`, else the PEM text in `$QUARANTINE_SIGNING_KEY`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read key {}", path.display()))?;
                warn_if_readable_by_others(path);
                Self::from_pem(&text, &path.display().to_string())
            }
            None => match std::env::var(SIGNING_KEY_ENV) {
                Ok(text) if !text.trim().is_empty() => Self::from_pem(&text, SIGNING_KEY_ENV),
                _ => bail!(
                    "no signing key: give --key FILE or set {SIGNING_KEY_ENV} to its PEM text"
                ),
            },
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// An ECDSA P-256 / SHA-256 signature of `message`, ASN.1 DER encoded (what Python's
    /// `cryptography` writes and reads, and so what Model Signing bundles hold).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    fn to_pem(&self) -> Result<String> {
        Ok(self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("cannot encode the private key: {e}"))?
            .to_string())
    }
}

impl PublicKey {
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self> {
        let trimmed = pem.trim_start();
        if trimmed.starts_with("-----BEGIN PUBLIC KEY-----") {
            let key = VerifyingKey::from_public_key_pem(trimmed)
                .map_err(|e| anyhow::anyhow!("{origin}: not an ECDSA P-256 public key: {e}"))?;
            return Ok(PublicKey { key });
        }
        if trimmed.contains("PRIVATE KEY-----") {
            return Ok(PrivateKey::from_pem(pem, origin)?.public());
        }
        bail!("{origin}: not a PEM public key (want `-----BEGIN PUBLIC KEY-----`)")
    }

    /// `--key FILE`, else the PEM text in `$QUARANTINE_VERIFY_KEY`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read key {}", path.display()))?;
                Self::from_pem(&text, &path.display().to_string())
            }
            None => match std::env::var(VERIFY_KEY_ENV) {
                Ok(text) if !text.trim().is_empty() => Self::from_pem(&text, VERIFY_KEY_ENV),
                _ => {
                    bail!("no public key: give --key FILE or set {VERIFY_KEY_ENV} to its PEM text")
                }
            },
        }
    }

    /// SubjectPublicKeyInfo PEM, 64-column lines, LF: byte for byte what Python's
    /// `cryptography` writes, so that [`Self::hint`] equals Model Signing's key hint.
    pub fn to_pem(&self) -> Result<String> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))
    }

    /// The key identifier Model Signing puts in a bundle's `verificationMaterial.publicKey.hint`:
    /// hex SHA-256 of the public key's PEM text.
    pub fn hint(&self) -> String {
        digest::sha256_hex(self.to_pem().unwrap_or_default().as_bytes())
    }

    /// Whether `signature` (DER, or the 64-byte fixed form) is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let parsed = Signature::from_der(signature)
            .ok()
            .or_else(|| Signature::from_slice(signature).ok());
        parsed.is_some_and(|s| self.key.verify(message, &s).is_ok())
    }
}

/// Writes `PREFIX.key` (mode 0600, created exclusively) and `PREFIX.pub`; refuses to overwrite.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf)> {
    let private = with_suffix(prefix, "key");
    let public = with_suffix(prefix, "pub");
    for path in [&private, &public] {
        if path.symlink_metadata().is_ok() {
            bail!("{} exists; not overwriting a key", path.display());
        }
    }
    let key = PrivateKey::generate()?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&private)
        .with_context(|| format!("cannot create {}", private.display()))?;
    file.write_all(key.to_pem()?.as_bytes())?;
    file.sync_all()?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public)
        .with_context(|| format!("cannot create {}", public.display()))?;
    file.write_all(key.public().to_pem()?.as_bytes())?;
    Ok((private, public))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "quarantine: warning: private key {} is readable by other users (chmod 600 it)",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_other_keys_fail() {
        let a = PrivateKey::generate().unwrap();
        let b = PrivateKey::generate().unwrap();
        let sig = a.sign(b"message");
        assert!(a.public().verify(b"message", &sig));
        assert!(!a.public().verify(b"messagE", &sig));
        assert!(!b.public().verify(b"message", &sig));
        assert!(!a.public().verify(b"message", b"garbage"));
    }

    #[test]
    fn pem_round_trips_and_sec1_is_read() {
        let key = PrivateKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        let again = PrivateKey::from_pem(&pem, "t").unwrap();
        assert_eq!(again.public().hint(), key.public().hint());
        let public = PublicKey::from_pem(&key.public().to_pem().unwrap(), "t").unwrap();
        assert!(public.verify(b"m", &again.sign(b"m")));
        // An `openssl ecparam -name prime256v1 -genkey` key (SEC1), and its public half as
        // `openssl ec -pubout` wrote it; the hint is the SHA-256 of that exact text.
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEICCh73vHlNNvsjUbPj+UkTw4hodKENJSF4BppxmvfQ03oAoGCCqGSM49\nAwEHoUQDQgAEhluJqfOCG1EqaXlu2t4PhgurqtZXYhYVppk/00BlQ9O9UVHEkfgM\n0NWOCnjAxAVNJ1mIBTeGpfRuvQtJ2ObEGA==\n-----END EC PRIVATE KEY-----\n";
        let key = PrivateKey::from_pem(sec1, "t").unwrap();
        assert_eq!(
            key.public().hint(),
            "3b38b959fb88b5625737efd74758122c49838aa8d10e0cf1a47a608bdcb53c59"
        );
        assert!(PrivateKey::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", "t").is_err());
        assert!(PublicKey::from_pem("hello", "t").is_err());
    }

    #[test]
    fn keygen_writes_a_private_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(&dir.path().join("k")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let key = PrivateKey::load(Some(&private)).unwrap();
        let public = PublicKey::load(Some(&public)).unwrap();
        assert!(public.verify(b"x", &key.sign(b"x")));
        assert!(keygen(&dir.path().join("k")).is_err());
    }
}
