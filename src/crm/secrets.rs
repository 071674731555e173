//! Credentials at rest: AES-256-GCM sealing with a key from `OUTDIAL_SECRET_KEY` (base64,
//! 32 bytes) or a key file generated beside the database (mode 0600). It must never log, print
//! or return key material or plaintext other than through `open`'s zeroizing buffer.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

/// The environment variable holding the base64 key.
pub const KEY_ENV: &str = "OUTDIAL_SECRET_KEY";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key must be 32 bytes of base64")]
    BadKey,
    #[error("sealed value is malformed")]
    Malformed,
    /// Wrong key, or the sealed value was altered.
    #[error("sealed value failed authentication")]
    Tampered,
    #[error("key file: {0}")]
    KeyFile(#[from] std::io::Error),
}

/// Seals and opens credentials. Debug prints no key.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([REDACTED])")
    }
}

impl SecretBox {
    pub fn from_key_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if key.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Ok(Self { cipher: Aes256Gcm::new_from_slice(key).map_err(|_| SecretError::BadKey)? })
    }

    /// A key given as base64 text (the `OUTDIAL_SECRET_KEY` format, also the key file's).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let key = Zeroizing::new(B64.decode(text.trim()).map_err(|_| SecretError::BadKey)?);
        Self::from_key_bytes(&key)
    }

    /// Writes a new random key to `path` (base64, mode 0600; fails if the file exists).
    pub fn generate_key_file(path: &Path) -> Result<Self, SecretError> {
        let key = Aes256Gcm::generate_key(OsRng);
        let text = Zeroizing::new(B64.encode(&key[..]));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Self::from_key_bytes(&key[..])
    }

    /// The key from `env_value` (the content of `OUTDIAL_SECRET_KEY`) when given, else from the
    /// key file at `key_path`, generating that file on first start.
    pub fn resolve(env_value: Option<&str>, key_path: &Path) -> Result<Self, SecretError> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return Self::from_base64(v);
        }
        match std::fs::read_to_string(key_path) {
            Ok(text) => Self::from_base64(&Zeroizing::new(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::generate_key_file(key_path),
            Err(e) => Err(e.into()),
        }
    }

    /// `base64(nonce || ciphertext+tag)` with a fresh random 96-bit nonce.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption with a valid key and in-memory buffer cannot fail.
        let ct = self.cipher.encrypt(&nonce, plaintext).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce[..]);
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let raw = B64.decode(sealed.trim()).map_err(|_| SecretError::Malformed)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Malformed)?;
        self.cipher.decrypt(&Nonce::from(nonce), ct).map(Zeroizing::new).map_err(|_| SecretError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretBox {
        SecretBox::from_key_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips() {
        let b = key();
        let sealed = b.seal(b"refresh-token-123");
        assert!(!sealed.contains("refresh-token"));
        assert_eq!(b.open(&sealed).unwrap().as_slice(), b"refresh-token-123");
        assert_ne!(b.seal(b"x"), b.seal(b"x"), "nonces must differ");
    }

    #[test]
    fn tampering_is_detected() {
        let b = key();
        let mut raw = B64.decode(b.seal(b"secret")).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(matches!(b.open(&B64.encode(&raw)), Err(SecretError::Tampered)));
        raw[last] ^= 1;
        raw[NONCE_LEN] ^= 0x80;
        assert!(matches!(b.open(&B64.encode(&raw)), Err(SecretError::Tampered)));
        assert!(matches!(b.open("not base64!"), Err(SecretError::Malformed)));
        assert!(matches!(b.open(&B64.encode([0u8; 10])), Err(SecretError::Malformed)));
    }

    #[test]
    fn wrong_key_fails_authentication() {
        let sealed = key().seal(b"secret");
        let other = SecretBox::from_key_bytes(&[8u8; 32]).unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretError::Tampered)));
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(matches!(SecretBox::from_key_bytes(&[0u8; 16]), Err(SecretError::BadKey)));
        assert!(matches!(SecretBox::from_base64("AAAA"), Err(SecretError::BadKey)));
        assert!(SecretBox::from_base64(&B64.encode([1u8; 32])).is_ok());
    }

    #[test]
    fn generated_key_file_is_private_and_reloads() {
        let dir = std::env::temp_dir().join(format!("outdial-key-{}-{}", std::process::id(), line!()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret.key");
        let _ = std::fs::remove_file(&path);
        let first = SecretBox::resolve(None, &path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let sealed = first.seal(b"token");
        let again = SecretBox::resolve(None, &path).unwrap();
        assert_eq!(again.open(&sealed).unwrap().as_slice(), b"token");
        assert!(SecretBox::generate_key_file(&path).is_err(), "never overwrites a key");
        let from_env = SecretBox::resolve(Some(&B64.encode([7u8; 32])), &path).unwrap();
        assert_eq!(from_env.open(&key().seal(b"t")).unwrap().as_slice(), b"t");
        assert!(format!("{first:?}").contains("REDACTED"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
