//! Program signing: Ed25519 signatures over SHA-256 digests, checked
//! against a set of trusted keys *before* a program is verified.
//!
//! # Scheme
//!
//! * A bytecode program's digest is `SHA-256(bytecode)`
//!   ([`program_digest`]).
//! * An ELF object's digest is the SHA-256 of the whole file with the
//!   contents of its [`SIGNATURE_SECTION`] (`.exo.sig`), if it has one,
//!   replaced by zero bytes ([`elf_digest`](crate::elf::digest)). The
//!   signature therefore covers every other byte, headers and section
//!   names included, and lives inside the object it signs.
//! * What is signed is a domain tag followed by the digest:
//!   `"exo-bpf program v1\0" || digest` for bytecode,
//!   `"exo-bpf elf v1\0" || digest` for objects, so one kind of signature
//!   cannot be replayed as the other.
//! * A [`Signature`] is [`SIGNATURE_SIZE`] (96) bytes: the signer's 32-byte
//!   Ed25519 public key, then the 64-byte signature. An object carries it
//!   as the contents of a 96-byte `.exo.sig` section (declare one in C with
//!   `char exo_sig[96] __attribute__((section(".exo.sig"), used));`, then
//!   fill it with [`crate::elf::sign`]); it may also travel detached.
//!
//! # Implementation
//!
//! Ed25519 comes from `ed25519-dalek` 2 on every target where it builds.
//! On bare-metal x86_64 (`x86_64-unknown-none`, which has no SSE)
//! `curve25519-dalek` selects an AVX2 backend that LLVM cannot compile, so
//! there the portable `ed25519-compact` verifies and signs instead. Both
//! implement RFC 8032 (deterministic signatures), and a unit test checks on
//! the host that they derive the same keys, make identical signatures and
//! accept each other's. The API below uses plain byte arrays so it is the
//! same on every target.
//!
//! A [`SigningPolicy`] lists the trusted public keys and says whether a
//! signature is required. [`crate::Program::load_signed`] and
//! [`crate::elf::load_with`] check it first, and refuse with a
//! [`SignatureError`]: [`SignatureError::Missing`],
//! [`SignatureError::UnknownKey`] or [`SignatureError::BadSignature`].

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

/// Name of the section holding an object's embedded signature.
pub const SIGNATURE_SECTION: &str = ".exo.sig";
/// Bytes of an encoded [`Signature`]: public key, then signature.
pub const SIGNATURE_SIZE: usize = 96;
/// Domain tag of bytecode signatures.
pub const PROGRAM_DOMAIN: &[u8] = b"exo-bpf program v1\0";
/// Domain tag of ELF object signatures.
pub const ELF_DOMAIN: &[u8] = b"exo-bpf elf v1\0";

/// The Ed25519 primitives, on `ed25519-dalek`.
#[cfg(not(all(target_arch = "x86_64", target_os = "none")))]
mod dalek {
    use ed25519_dalek::{Signer, Verifier};

    pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(seed)
            .verifying_key()
            .to_bytes()
    }

    pub fn sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
        ed25519_dalek::SigningKey::from_bytes(seed)
            .sign(message)
            .to_bytes()
    }

    /// `None` if `public_key` is not a valid key.
    pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<bool> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).ok()?;
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        Some(key.verify(message, &sig).is_ok())
    }
}

/// The Ed25519 primitives, on `ed25519-compact`.
mod compact {
    use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};

    #[allow(dead_code)] // Used on bare-metal x86_64 and by the unit tests.
    pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
        *KeyPair::from_seed(Seed::new(*seed)).pk
    }

    #[allow(dead_code)] // Used on bare-metal x86_64 and by the unit tests.
    pub fn sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
        *KeyPair::from_seed(Seed::new(*seed)).sk.sign(message, None)
    }

    /// `None` if `public_key` is not a valid key.
    #[allow(dead_code)] // Used on bare-metal x86_64 and by the unit tests.
    pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<bool> {
        let key = PublicKey::from_slice(public_key).ok()?;
        Some(key.verify(message, &Signature::new(*signature)).is_ok())
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
use compact as backend;
#[cfg(not(all(target_arch = "x86_64", target_os = "none")))]
use dalek as backend;

/// Why a signature check refused a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The policy requires a signature and there is none.
    #[error("program is not signed and the policy requires a signature")]
    Missing,
    /// Signed by a key the policy does not trust.
    #[error("program is signed by an untrusted key")]
    UnknownKey,
    /// The signature does not match the program (tampered bytes or a
    /// forged signature).
    #[error("signature does not match the program")]
    BadSignature,
    /// The signature (or its section) is not [`SIGNATURE_SIZE`] bytes, or
    /// its public key is not a valid Ed25519 point.
    #[error("malformed signature")]
    Malformed,
}

/// An Ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// An Ed25519 signing key, from its 32-byte secret seed (RFC 8032).
#[derive(Clone)]
pub struct SigningKey {
    seed: [u8; 32],
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key whose secret seed is `seed`.
    #[must_use]
    pub const fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey { seed }
    }

    /// Its public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(backend::public_key(&self.seed))
    }

    /// A signature of `message` (deterministic).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        backend::sign(&self.seed, message)
    }
}

/// A signature with the public key that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Ed25519 public key of the signer.
    pub public_key: [u8; 32],
    /// Ed25519 signature.
    pub signature: [u8; 64],
}

impl Signature {
    /// The 96-byte encoding: public key, then signature.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; SIGNATURE_SIZE] {
        let mut out = [0u8; SIGNATURE_SIZE];
        out[..32].copy_from_slice(&self.public_key);
        out[32..].copy_from_slice(&self.signature);
        out
    }

    /// Decodes [`Signature::to_bytes`].
    ///
    /// # Errors
    /// [`SignatureError::Malformed`] unless `bytes` is 96 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature, SignatureError> {
        if bytes.len() != SIGNATURE_SIZE {
            return Err(SignatureError::Malformed);
        }
        let mut public_key = [0u8; 32];
        let mut signature = [0u8; 64];
        public_key.copy_from_slice(&bytes[..32]);
        signature.copy_from_slice(&bytes[32..]);
        Ok(Signature {
            public_key,
            signature,
        })
    }
}

/// SHA-256 of a bytecode program.
#[must_use]
pub fn program_digest(bytecode: &[u8]) -> [u8; 32] {
    Sha256::digest(bytecode).into()
}

fn message(domain: &[u8], digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + 32);
    m.extend_from_slice(domain);
    m.extend_from_slice(digest);
    m
}

/// Signs `digest` under `domain` ([`PROGRAM_DOMAIN`] or [`ELF_DOMAIN`]).
#[must_use]
pub fn sign_digest(key: &SigningKey, domain: &[u8], digest: &[u8; 32]) -> Signature {
    Signature {
        public_key: key.public_key().0,
        signature: key.sign(&message(domain, digest)),
    }
}

/// Signs a bytecode program.
#[must_use]
pub fn sign_program(key: &SigningKey, bytecode: &[u8]) -> Signature {
    sign_digest(key, PROGRAM_DOMAIN, &program_digest(bytecode))
}

/// Trusted keys, and whether programs must be signed.
#[derive(Clone, Debug, Default)]
pub struct SigningPolicy {
    required: bool,
    keys: Vec<PublicKey>,
}

impl SigningPolicy {
    /// A policy that requires every program to be signed by one of `keys`.
    #[must_use]
    pub fn require(keys: &[PublicKey]) -> SigningPolicy {
        SigningPolicy {
            required: true,
            keys: keys.to_vec(),
        }
    }

    /// A policy that accepts unsigned programs but checks any signature
    /// that is present against `keys`.
    #[must_use]
    pub fn if_signed(keys: &[PublicKey]) -> SigningPolicy {
        SigningPolicy {
            required: false,
            keys: keys.to_vec(),
        }
    }

    /// Whether a signature is required.
    #[must_use]
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The trusted keys.
    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Adds a trusted key.
    pub fn trust(&mut self, key: PublicKey) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Checks `signature` of `digest` under `domain`. Returns the index of
    /// the trusted key that signed, or `None` for an unsigned program the
    /// policy lets through.
    ///
    /// # Errors
    /// Any [`SignatureError`].
    pub fn check_digest(
        &self,
        domain: &[u8],
        digest: &[u8; 32],
        signature: Option<&Signature>,
    ) -> Result<Option<usize>, SignatureError> {
        let Some(sig) = signature else {
            return if self.required {
                Err(SignatureError::Missing)
            } else {
                Ok(None)
            };
        };
        let index = self
            .keys
            .iter()
            .position(|k| k.0 == sig.public_key)
            .ok_or(SignatureError::UnknownKey)?;
        match backend::verify(&sig.public_key, &message(domain, digest), &sig.signature) {
            None => Err(SignatureError::Malformed),
            Some(false) => Err(SignatureError::BadSignature),
            Some(true) => Ok(Some(index)),
        }
    }

    /// Checks the signature of a bytecode program.
    ///
    /// # Errors
    /// Any [`SignatureError`].
    pub fn check_program(
        &self,
        bytecode: &[u8],
        signature: Option<&Signature>,
    ) -> Result<Option<usize>, SignatureError> {
        self.check_digest(PROGRAM_DOMAIN, &program_digest(bytecode), signature)
    }
}

#[cfg(all(test, not(all(target_arch = "x86_64", target_os = "none"))))]
mod tests {
    use super::{compact, dalek};

    /// The two Ed25519 implementations are interchangeable: same keys, same
    /// (deterministic) signatures, each accepts the other's and refuses a
    /// tampered message.
    #[test]
    fn dalek_and_compact_agree() {
        for seed in 0u8..8 {
            let seed = [seed.wrapping_mul(37).wrapping_add(1); 32];
            let pk = dalek::public_key(&seed);
            assert_eq!(pk, compact::public_key(&seed));
            for len in [0usize, 1, 51, 200] {
                let msg: alloc::vec::Vec<u8> = (0..len).map(|i| i as u8 ^ seed[0]).collect();
                let sig = dalek::sign(&seed, &msg);
                assert_eq!(sig, compact::sign(&seed, &msg));
                assert_eq!(compact::verify(&pk, &msg, &sig), Some(true));
                assert_eq!(dalek::verify(&pk, &msg, &sig), Some(true));
                let mut bad = msg.clone();
                bad.push(1);
                assert_eq!(compact::verify(&pk, &bad, &sig), Some(false));
                assert_eq!(dalek::verify(&pk, &bad, &sig), Some(false));
            }
        }
    }
}
