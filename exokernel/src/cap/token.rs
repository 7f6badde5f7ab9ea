//! `Token`: the canonical, versioned, fixed-size, HMAC-authenticated
//! encoding of a capability that leaves the kernel.
//!
//! Version 1 layout (all integers little-endian, 71 bytes):
//!
//! | offset | size | field                                        |
//! |-------:|-----:|----------------------------------------------|
//! |      0 |    1 | version = 1                                  |
//! |      1 |    1 | resource kind ([`ResourceKind`])             |
//! |      2 |    1 | security level (0..=15)                      |
//! |      3 |    4 | owning environment id                        |
//! |      7 |    4 | slot index in that environment's table       |
//! |     11 |    8 | slot generation (odd)                        |
//! |     19 |    4 | rights word (undefined bits must be 0)       |
//! |     23 |    8 | resource object (core / device id, else 0)   |
//! |     31 |    8 | resource base                                |
//! |     39 |    8 | resource length (≥ 1, base+len-1 ≤ u64::MAX) |
//! |     47 |    8 | badge                                        |
//! |     55 |   16 | tag = HMAC-SHA256(key, bytes[0..55])[0..16]  |
//!
//! The encoding is canonical: every field is fixed-width and strictly
//! validated, so each capability has exactly one byte string, and any byte
//! string that decodes re-encodes to itself. The 55-byte payload is the
//! largest that fits one SHA-256 block after padding, so the MAC costs two
//! compressions on top of the pre-keyed state.

use super::capability::{Badge, Capability};
use super::error::CapError;
use super::handle::{CapHandle, EnvId};
use super::key::{CapKey, TAG_LEN};
use super::level::Level;
use super::resource::{Resource, ResourceKind, Span};
use super::rights::Rights;

/// The encoding version this kernel mints and accepts.
pub const TOKEN_VERSION: u8 = 1;
/// Bytes covered by the tag.
pub const PAYLOAD_LEN: usize = 55;
/// Total token size.
pub const TOKEN_LEN: usize = PAYLOAD_LEN + TAG_LEN;

/// What a token asserts: capability `cap` lives in slot `handle` of
/// environment `env`'s table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenClaims {
    /// The environment the token was minted for (the only one that may
    /// present it).
    pub env: EnvId,
    /// Slot and generation in that environment's table.
    pub handle: CapHandle,
    /// The capability itself.
    pub cap: Capability,
}

impl TokenClaims {
    /// The canonical payload bytes (everything but the tag).
    #[must_use]
    pub fn encode_payload(&self) -> [u8; PAYLOAD_LEN] {
        let span = self.cap.resource.span();
        let mut out = [0u8; PAYLOAD_LEN];
        out[0] = TOKEN_VERSION;
        out[1] = span.kind as u8;
        out[2] = self.cap.level.get();
        out[3..7].copy_from_slice(&self.env.0.to_le_bytes());
        out[7..11].copy_from_slice(&self.handle.index.to_le_bytes());
        out[11..19].copy_from_slice(&self.handle.generation.to_le_bytes());
        out[19..23].copy_from_slice(&self.cap.rights.bits().to_le_bytes());
        out[23..31].copy_from_slice(&span.object.to_le_bytes());
        out[31..39].copy_from_slice(&span.base.to_le_bytes());
        out[39..47].copy_from_slice(&span.len.to_le_bytes());
        out[47..55].copy_from_slice(&self.cap.badge.0.to_le_bytes());
        out
    }

    /// Parses and validates a payload. Does not authenticate it.
    ///
    /// # Errors
    /// [`CapError::UnsupportedVersion`], [`CapError::UnknownResourceKind`],
    /// [`CapError::InvalidLevel`], [`CapError::UnknownRights`] or
    /// [`CapError::InvalidResource`].
    pub fn decode_payload(payload: &[u8; PAYLOAD_LEN]) -> Result<Self, CapError> {
        if payload[0] != TOKEN_VERSION {
            return Err(CapError::UnsupportedVersion(payload[0]));
        }
        let kind = ResourceKind::from_wire(payload[1])?;
        let level = Level::new(payload[2])?;
        let env = EnvId(le_u32(payload, 3));
        let index = le_u32(payload, 7);
        let generation = le_u64(payload, 11);
        let rights = Rights::from_wire(le_u32(payload, 19))?;
        let span = Span {
            kind,
            object: le_u64(payload, 23),
            base: le_u64(payload, 31),
            len: le_u64(payload, 39),
        };
        let resource = Resource::from_span(span)?;
        let badge = Badge(le_u64(payload, 47));
        Ok(Self {
            env,
            handle: CapHandle { index, generation },
            cap: Capability {
                resource,
                rights,
                level,
                badge,
            },
        })
    }
}

/// Reads a little-endian `u32` at `at` (the caller's offsets are constant
/// and in range; a short read would yield zero bytes, never a panic).
fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

/// Reads a little-endian `u64` at `at`; see [`le_u32`].
fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

/// A minted, authenticated capability token, as handed to an environment.
///
/// The bytes are not secret from their holder (the tag authenticates, it
/// does not hide), but only the kernel can produce a valid one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    bytes: [u8; TOKEN_LEN],
}

impl Token {
    /// Encodes `claims` and appends their tag under `key`.
    pub(crate) fn seal(key: &CapKey, claims: &TokenClaims) -> Self {
        let payload = claims.encode_payload();
        let tag = key.tag(&payload);
        let mut bytes = [0u8; TOKEN_LEN];
        bytes[..PAYLOAD_LEN].copy_from_slice(&payload);
        bytes[PAYLOAD_LEN..].copy_from_slice(&tag);
        Self { bytes }
    }

    /// The token's wire bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; TOKEN_LEN] {
        &self.bytes
    }
}

/// A token that decoded cleanly but whose tag has not been checked yet.
///
/// Only [`CapSpace::verify`](super::space::CapSpace::verify) turns it into
/// authority; the claims are exposed for diagnostics and fuzzing under a
/// name that says they are untrusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnverifiedToken {
    claims: TokenClaims,
    payload: [u8; PAYLOAD_LEN],
    tag: [u8; TAG_LEN],
}

impl UnverifiedToken {
    /// Decodes `bytes`: length, version, then every field.
    ///
    /// # Errors
    /// [`CapError::BadLength`] for anything but [`TOKEN_LEN`] bytes, then
    /// the errors of [`TokenClaims::decode_payload`].
    pub fn decode(bytes: &[u8]) -> Result<Self, CapError> {
        if bytes.len() != TOKEN_LEN {
            return Err(CapError::BadLength {
                got: bytes.len(),
                expected: TOKEN_LEN,
            });
        }
        let mut payload = [0u8; PAYLOAD_LEN];
        payload.copy_from_slice(&bytes[..PAYLOAD_LEN]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&bytes[PAYLOAD_LEN..]);
        let claims = TokenClaims::decode_payload(&payload)?;
        Ok(Self {
            claims,
            payload,
            tag,
        })
    }

    /// The claims, **not yet authenticated**.
    #[must_use]
    pub const fn claims_unverified(&self) -> &TokenClaims {
        &self.claims
    }

    /// Checks the tag; on success the claims were minted by this kernel.
    ///
    /// # Errors
    /// [`CapError::BadTag`].
    pub(crate) fn authenticate(&self, key: &CapKey) -> Result<TokenClaims, CapError> {
        key.verify(&self.payload, &self.tag)?;
        Ok(self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenClaims {
        TokenClaims {
            env: EnvId(3),
            handle: CapHandle {
                index: 17,
                generation: 5,
            },
            cap: Capability {
                resource: Resource::Dma {
                    device: 2,
                    base: 0x4000,
                    len: 0x1000,
                },
                rights: Rights::READ | Rights::MAP,
                level: Level::HIGHEST,
                badge: Badge(0xdead_beef),
            },
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let p = sample().encode_payload();
        assert_eq!(p[0], 1);
        assert_eq!(p[1], ResourceKind::Dma as u8);
        assert_eq!(p[2], 15);
        assert_eq!(&p[3..7], &3u32.to_le_bytes());
        assert_eq!(&p[7..11], &17u32.to_le_bytes());
        assert_eq!(&p[11..19], &5u64.to_le_bytes());
        assert_eq!(&p[19..23], &0b1001u32.to_le_bytes());
        assert_eq!(&p[23..31], &2u64.to_le_bytes());
        assert_eq!(&p[31..39], &0x4000u64.to_le_bytes());
        assert_eq!(&p[39..47], &0x1000u64.to_le_bytes());
        assert_eq!(&p[47..55], &0xdead_beefu64.to_le_bytes());
        assert_eq!(TOKEN_LEN, 71);
    }

    #[test]
    fn seal_decode_authenticate_round_trip() {
        let key = CapKey::from_seed([9; 32]);
        let token = Token::seal(&key, &sample());
        let parsed = UnverifiedToken::decode(token.as_bytes());
        assert_eq!(parsed.map(|t| *t.claims_unverified()), Ok(sample()));
        assert_eq!(parsed.and_then(|t| t.authenticate(&key)), Ok(sample()));
        let other = CapKey::from_seed([8; 32]);
        assert_eq!(
            parsed.and_then(|t| t.authenticate(&other)),
            Err(CapError::BadTag)
        );
    }

    #[test]
    fn decode_errors_are_typed() {
        let key = CapKey::from_seed([9; 32]);
        let good = *Token::seal(&key, &sample()).as_bytes();
        assert_eq!(
            UnverifiedToken::decode(&good[..70]),
            Err(CapError::BadLength {
                got: 70,
                expected: 71
            })
        );
        assert_eq!(
            UnverifiedToken::decode(&[]),
            Err(CapError::BadLength {
                got: 0,
                expected: 71
            })
        );
        let mut bad = good;
        bad[0] = 2;
        assert_eq!(
            UnverifiedToken::decode(&bad),
            Err(CapError::UnsupportedVersion(2))
        );
        let mut bad = good;
        bad[1] = 0;
        assert_eq!(
            UnverifiedToken::decode(&bad),
            Err(CapError::UnknownResourceKind(0))
        );
        let mut bad = good;
        bad[2] = 16;
        assert_eq!(
            UnverifiedToken::decode(&bad),
            Err(CapError::InvalidLevel(16))
        );
        let mut bad = good;
        bad[22] = 0x80;
        assert!(matches!(
            UnverifiedToken::decode(&bad),
            Err(CapError::UnknownRights(_))
        ));
        let mut bad = good;
        bad[39..47].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(
            UnverifiedToken::decode(&bad),
            Err(CapError::InvalidResource)
        );
    }
}
