//! Encryption of personal data at rest and keyed blind indexes.
//!
//! One 32-byte master key (from configuration, or generated into the data directory) derives two
//! independent keys: AES-256-GCM for the fields and HMAC-SHA256 for the blind indexes, so a person can be
//! found by ID number or phone without either being stored in clear. The field name is the AEAD's
//! associated data, so a ciphertext copied into another column does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use std::path::Path;

use crate::StoreError;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// Blind indexes are truncated HMACs: 16 bytes keep collisions out of reach and the index small.
const BLIND_INDEX_LEN: usize = 16;

/// The master key for personal data. `Debug` never shows it.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

impl DataKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, StoreError> {
        let bytes = hex::decode(s.trim()).map_err(|_| {
            StoreError::Config("数据密钥应为64位十六进制 / data key must be 64 hex characters".into())
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Config("数据密钥应为32字节 / data key must be 32 bytes (64 hex characters)".into())
        })?;
        Ok(Self(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads the key file, or creates it (readable by the owner only) when absent.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), StoreError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_hex(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(path, &key.to_hex()).map_err(|e| {
                    StoreError::Config(format!("cannot write key file {}: {e}", path.display()))
                })?;
                Ok((key, true))
            }
            Err(e) => Err(StoreError::Config(format!("cannot read key file {}: {e}", path.display()))),
        }
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Encrypts and decrypts personal fields and computes their blind indexes.
pub struct PersonalDataCipher {
    aead: Aes256Gcm,
    index_key: [u8; 32],
}

impl fmt::Debug for PersonalDataCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonalDataCipher(***)")
    }
}

fn derive(master: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl PersonalDataCipher {
    pub fn new(key: &DataKey) -> Self {
        let enc_key = derive(&key.0, "sentinel/personal-data/aes-256-gcm/v1");
        let index_key = derive(&key.0, "sentinel/personal-data/blind-index/v1");
        Self { aead: Aes256Gcm::new_from_slice(&enc_key).expect("32-byte key"), index_key }
    }

    /// Text fields (personal data).
    pub fn encrypt(&self, field: &str, plaintext: &str) -> Vec<u8> {
        self.encrypt_bytes(field, plaintext.as_bytes())
    }

    /// `[version][12-byte random nonce][ciphertext + tag]`, bound to `field`.
    pub fn encrypt_bytes(&self, field: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: field.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt_bytes(&self, field: &str, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        if stored.len() < 1 + NONCE_LEN || stored[0] != FORMAT_V1 {
            return Err(StoreError::Crypto);
        }
        let (nonce, ct) = stored[1..].split_at(NONCE_LEN);
        self.aead
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: field.as_bytes() })
            .map_err(|_| StoreError::Crypto)
    }

    pub fn decrypt(&self, field: &str, stored: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(self.decrypt_bytes(field, stored)?).map_err(|_| StoreError::Crypto)
    }

    /// A deterministic keyed index of a normalised value: equal values give equal indexes, and
    /// nobody without the key can compute one from a guessed ID number.
    pub fn blind_index(&self, field: &str, normalised: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).expect("HMAC takes any key length");
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes()[..BLIND_INDEX_LEN].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let c = PersonalDataCipher::new(&DataKey::generate());
        let ct = c.encrypt("name", "张三");
        assert_eq!(c.decrypt("name", &ct).unwrap(), "张三");
        assert!(c.decrypt("phone", &ct).is_err(), "a ciphertext must not decrypt in another column");
        let mut tampered = ct.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(c.decrypt("name", &tampered).is_err());
        assert_ne!(c.encrypt("name", "张三"), ct, "nonces are random");
        let other = PersonalDataCipher::new(&DataKey::generate());
        assert!(other.decrypt("name", &ct).is_err());
    }

    #[test]
    fn blind_indexes_are_deterministic_and_keyed() {
        let key = DataKey::generate();
        let a = PersonalDataCipher::new(&key);
        let b = PersonalDataCipher::new(&key);
        assert_eq!(a.blind_index("id", "11010519491231002X"), b.blind_index("id", "11010519491231002X"));
        assert_ne!(a.blind_index("id", "11010519491231002X"), a.blind_index("phone", "11010519491231002X"));
        let other = PersonalDataCipher::new(&DataKey::generate());
        assert_ne!(a.blind_index("id", "x"), other.blind_index("id", "x"));
    }

    #[test]
    fn key_files_are_created_once_and_debug_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.key");
        let (k1, created) = DataKey::load_or_create(&path).unwrap();
        assert!(created);
        let (k2, created) = DataKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1.to_hex(), k2.to_hex());
        assert_eq!(format!("{k1:?}"), "DataKey(***)");
        assert!(DataKey::from_hex("abcd").is_err());
    }
}
