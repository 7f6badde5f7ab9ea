//! `CapKey`: the per-boot HMAC-SHA256 key that authenticates tokens.
//!
//! The caller (boot code) supplies a 32-byte seed drawn from the best
//! entropy the HAL offers; this module never invents entropy. The seed is
//! turned into the token key by one HMAC under a fixed label (key
//! separation: the same boot seed can feed other subsystems under other
//! labels without the token key being related to their keys), the seed
//! copy is zeroized, and the keyed HMAC state is kept.
//!
//! The key never leaves the kernel: `CapKey` is neither `Clone` nor
//! serialisable, its `Debug` prints nothing secret, and the seed and the
//! derived key bytes are zeroized as soon as the keyed HMAC state exists.
//! That keyed state (inner/outer pads already absorbed, so key-equivalent)
//! lives as long as the kernel; `hmac` 0.12 cannot wipe it on drop, which is
//! acceptable for a per-boot key that dies with the machine (see the threat
//! model in `docs/CAPABILITIES.md`).

use core::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroize;

use super::error::CapError;

type HmacSha256 = Hmac<Sha256>;

/// Domain-separation label for deriving the token key from the boot seed.
const TOKEN_KEY_LABEL: &[u8] = b"exo/cap/token-key/v1";

/// Bytes of HMAC-SHA256 output kept as the token tag (128 bits).
///
/// Why 128: a tag can only be checked by asking the kernel, so forging is
/// an online attack at well under 2^30 guesses per second per core; a
/// 128-bit tag makes success odds 2^-128 per guess, far beyond any number of
/// guesses and with margin against multi-target attacks over every token
/// ever minted (the generic bound is 2^-128 · guesses · live tokens). A
/// 64-bit tag would already resist online guessing but leaves no margin for
/// a long-lived libOS that stores millions of tokens; the full 256 bits buy
/// nothing more and lengthen every token. 128 bits also follows NIST
/// SP 800-107's guidance for truncated HMAC.
pub const TAG_LEN: usize = 16;

/// The per-boot token-authentication key.
pub struct CapKey {
    /// HMAC state already keyed (inner and outer pads absorbed): cloning it
    /// and absorbing a ≤ 55-byte payload costs two SHA-256 compressions.
    mac: HmacSha256,
}

impl CapKey {
    /// Derives the token key from a 32-byte per-boot seed.
    ///
    /// The seed must come from the HAL's entropy source (RDSEED/RDRAND or
    /// better); the caller should zeroize its own copy after the call. This
    /// function zeroizes the copy it was given.
    #[must_use]
    pub fn from_seed(mut seed: [u8; 32]) -> Self {
        let mut derived = [0u8; 32];
        // HMAC accepts keys of any length, so neither constructor can fail;
        // the fallbacks below are unreachable but keep this path panic-free.
        if let Ok(kdf) = <HmacSha256 as KeyInit>::new_from_slice(&seed) {
            derived.copy_from_slice(&kdf.chain_update(TOKEN_KEY_LABEL).finalize().into_bytes());
        }
        seed.zeroize();
        let mac = match <HmacSha256 as KeyInit>::new_from_slice(&derived) {
            Ok(mac) => mac,
            Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
        };
        derived.zeroize();
        Self { mac }
    }

    /// The truncated tag of `payload`.
    #[must_use]
    pub(crate) fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        let full = self
            .mac
            .clone()
            .chain_update(payload)
            .finalize()
            .into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// Checks `tag` against `payload` in constant time (in the tag bytes).
    ///
    /// # Errors
    /// [`CapError::BadTag`] on mismatch.
    pub(crate) fn verify(&self, payload: &[u8], tag: &[u8; TAG_LEN]) -> Result<(), CapError> {
        self.mac
            .clone()
            .chain_update(payload)
            .verify_truncated_left(tag)
            .map_err(|_| CapError::BadTag)
    }
}

impl fmt::Debug for CapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CapKey { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_does_not_leak() {
        let key = CapKey::from_seed([0x42; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "CapKey { .. }");
    }

    #[test]
    fn tags_depend_on_key_and_payload() {
        let a = CapKey::from_seed([1; 32]);
        let b = CapKey::from_seed([2; 32]);
        let t = a.tag(b"payload");
        assert_eq!(a.tag(b"payload"), t);
        assert_ne!(b.tag(b"payload"), t);
        assert_ne!(a.tag(b"payloae"), t);
        assert_eq!(a.verify(b"payload", &t), Ok(()));
        assert_eq!(b.verify(b"payload", &t), Err(CapError::BadTag));
        let mut flipped = t;
        flipped[TAG_LEN - 1] ^= 1;
        assert_eq!(a.verify(b"payload", &flipped), Err(CapError::BadTag));
    }

    #[test]
    fn known_answer() {
        // tag = HMAC-SHA256(HMAC-SHA256(seed, label), payload)[..16], computed
        // independently (Python's hmac module) to pin the construction.
        let key = CapKey::from_seed([0x11; 32]);
        let expected = [
            0x33, 0xd2, 0x34, 0x77, 0x78, 0x9a, 0x28, 0xb3, 0xfb, 0xef, 0xed, 0xa4, 0x7b, 0x0b,
            0x9d, 0xfa,
        ];
        assert_eq!(key.tag(b"exo capability"), expected);
    }

    #[test]
    fn key_is_derived_not_raw_seed() {
        // The token key is HMAC(seed, label), not the seed itself.
        let seed = [7u8; 32];
        let key = CapKey::from_seed(seed);
        let raw = <HmacSha256 as KeyInit>::new_from_slice(&seed)
            .map(|m| m.chain_update(b"x").finalize().into_bytes());
        let raw = raw.map(|full| {
            let mut t = [0u8; TAG_LEN];
            t.copy_from_slice(&full[..TAG_LEN]);
            t
        });
        assert_ne!(Ok(key.tag(b"x")), raw);
    }
}
