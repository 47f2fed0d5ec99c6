//! Ed25519 keys: generation, PEM encoding and key ids.
//!
//! Private keys are encoded as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, RFC 8410) and
//! public keys as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), both through
//! `ed25519-dalek`'s `pkcs8` support. The key id of a public key is the lowercase hex
//! SHA-256 of its 32 raw bytes.
//!
//! This module does no I/O: writing a private key file with mode 0600 is the caller's
//! job.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};

pub use ed25519_dalek::rand_core;
pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// Errors from decoding or encoding keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not a valid PKCS#8 Ed25519 private key PEM.
    #[error("invalid Ed25519 private key PEM: {0}")]
    InvalidPrivateKey(String),
    /// The text is not a valid SPKI Ed25519 public key PEM.
    #[error("invalid Ed25519 public key PEM: {0}")]
    InvalidPublicKey(String),
    /// The raw bytes are not a valid Ed25519 public key.
    #[error("invalid Ed25519 public key bytes")]
    InvalidPublicKeyBytes,
    /// Encoding failed.
    #[error("could not encode key: {0}")]
    Encode(String),
}

/// Derives a signing key from 32 seed bytes (the RFC 8032 private key).
pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// Generates a signing key from a caller-supplied cryptographically secure RNG.
pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> SigningKey {
    SigningKey::generate(rng)
}

/// The key id of a public key: lowercase hex SHA-256 of its 32 raw bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Parses a public key from its 32 raw bytes.
pub fn public_key_from_bytes(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::InvalidPublicKeyBytes)?;
    VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::InvalidPublicKeyBytes)
}

/// Encodes a private key as PKCS#8 PEM (LF line endings).
///
/// The returned string holds secret material; callers should not log it.
pub fn private_key_to_pem(key: &SigningKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.as_str().to_owned())
        .map_err(|e| KeyError::Encode(e.to_string()))
}

/// Decodes a PKCS#8 PEM Ed25519 private key.
pub fn private_key_from_pem(pem: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))
}

/// Encodes a public key as SubjectPublicKeyInfo PEM (LF line endings).
pub fn public_key_to_pem(key: &VerifyingKey) -> Result<String, KeyError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))
}

/// Decodes an SPKI PEM Ed25519 public key.
pub fn public_key_from_pem(pem: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| KeyError::InvalidPublicKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A deterministic test RNG (not cryptographically secure; tests only).
    struct CountingRng(u8);

    impl rand_core::TryRng for CountingRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for b in dst {
                *b = self.0;
                self.0 = self.0.wrapping_add(1);
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for CountingRng {}

    #[test]
    fn generate_uses_the_rng() {
        let key = generate(&mut CountingRng(0));
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(key.to_bytes(), from_seed(&seed).to_bytes());
    }

    #[test]
    fn rfc8032_test_1_public_key() {
        // RFC 8032 §7.1 TEST 1.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        let key = from_seed(&seed);
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let id = key_id(&key.verifying_key());
        assert_eq!(id.len(), 64);
        assert_eq!(
            id,
            hex::encode(Sha256::digest(key.verifying_key().as_bytes()))
        );
    }

    #[test]
    fn pem_round_trips() {
        let key = from_seed(&[7u8; 32]);
        let pem = private_key_to_pem(&key).expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(
            private_key_from_pem(&pem).expect("decode").to_bytes(),
            key.to_bytes()
        );
        let vk = key.verifying_key();
        let pub_pem = public_key_to_pem(&vk).expect("pem");
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(public_key_from_pem(&pub_pem).expect("decode"), vk);
        assert_eq!(public_key_from_bytes(vk.as_bytes()).expect("bytes"), vk);
    }

    #[test]
    fn rfc8410_private_key_example_decodes() {
        // RFC 8410 §10.3 example private key.
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let key = private_key_from_pem(pem).expect("decode");
        let pub_pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            key.verifying_key(),
            public_key_from_pem(pub_pem).expect("decode")
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(private_key_from_pem("not a key").is_err());
        assert!(
            public_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
        assert!(public_key_from_bytes(&[1, 2, 3]).is_err());
        let pub_pem = public_key_to_pem(&from_seed(&[1u8; 32]).verifying_key()).expect("pem");
        assert!(private_key_from_pem(&pub_pem).is_err());
    }
}
