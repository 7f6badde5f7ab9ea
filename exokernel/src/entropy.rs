//! Conditioning boot entropy into the per-boot capability-key seed.
//!
//! The HAL supplies raw material — words from a hardware generator
//! (RDSEED/RDRAND/RNDR/a board RNG) and cycle-counter jitter samples — and
//! [`gather`] hashes all of it with SHA-256 under a domain label into one
//! 32-byte [`Seed`]. Jitter is always mixed in (it costs little and hedges
//! against a hardware generator that is subtly broken), but a seed counts
//! as [`SeedQuality::Hardware`] only when the hardware gave at least 256
//! bits; otherwise many more jitter samples are taken and the seed is
//! [`SeedQuality::JitterOnly`], which boot code logs as a warning.

use core::fmt;

use hal::EntropySource;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Domain label hashed first, so this seed is unrelated to any other use of
/// the same raw samples.
const SEED_LABEL: &[u8] = b"exo/entropy/boot-seed/v1";

/// Hardware words requested (2× the 256 bits needed, as margin against a
/// generator with less than full entropy per output bit, e.g. RDRAND).
pub const HARDWARE_WORDS: usize = 8;
/// Hardware words that must arrive for a hardware-quality seed (256 bits).
pub const HARDWARE_WORDS_NEEDED: usize = 4;
/// Jitter samples always mixed in.
pub const JITTER_SAMPLES: usize = 64;
/// Jitter samples taken when the hardware source is missing or failing:
/// assuming as little as 1/8 bit per sample this still exceeds 256 bits.
pub const JITTER_ONLY_SAMPLES: usize = 4096;

/// How much a seed can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedQuality {
    /// At least 256 bits came from this hardware source.
    Hardware(EntropySource),
    /// No (or too little) hardware entropy: the seed rests on cycle-counter
    /// jitter alone.
    JitterOnly,
}

impl fmt::Display for SeedQuality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hardware(source) => write!(f, "{source} + {}", EntropySource::CycleJitter),
            Self::JitterOnly => write!(f, "{} only", EntropySource::CycleJitter),
        }
    }
}

/// A conditioned 32-byte seed. Zeroized on drop; [`take`](Self::take)
/// hands the bytes to their one consumer.
pub struct Seed {
    bytes: [u8; 32],
    quality: SeedQuality,
    hardware_words: usize,
    jitter_samples: usize,
}

impl Seed {
    /// How the seed was made.
    #[must_use]
    pub fn quality(&self) -> SeedQuality {
        self.quality
    }

    /// Hardware words that went into the seed.
    #[must_use]
    pub fn hardware_words(&self) -> usize {
        self.hardware_words
    }

    /// Jitter samples that went into the seed.
    #[must_use]
    pub fn jitter_samples(&self) -> usize {
        self.jitter_samples
    }

    /// The seed bytes, leaving zeros behind.
    #[must_use]
    pub fn take(mut self) -> [u8; 32] {
        core::mem::take(&mut self.bytes)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seed")
            .field("quality", &self.quality)
            .field("hardware_words", &self.hardware_words)
            .field("jitter_samples", &self.jitter_samples)
            .finish_non_exhaustive()
    }
}

/// Builds a seed from `hardware` (one word per call, `None` when the
/// generator is absent or failing) and `jitter` (one timing sample per
/// call).
pub fn gather(
    mut hardware: impl FnMut() -> Option<(EntropySource, u64)>,
    mut jitter: impl FnMut() -> u64,
) -> Seed {
    let mut hash = Sha256::new_with_prefix(SEED_LABEL);
    let mut source = None;
    let mut hardware_words = 0;
    for _ in 0..HARDWARE_WORDS {
        let Some((from, mut word)) = hardware() else {
            break;
        };
        // Only the first source counts: a HAL that switches sources
        // mid-way is still mixed in, but credited once.
        source.get_or_insert(from);
        hash.update([0x01]);
        hash.update(word.to_le_bytes());
        word.zeroize();
        hardware_words += 1;
    }
    let hardware_ok =
        hardware_words >= HARDWARE_WORDS_NEEDED && source.is_some_and(|s| s.is_hardware());
    let samples = if hardware_ok {
        JITTER_SAMPLES
    } else {
        JITTER_ONLY_SAMPLES
    };
    for _ in 0..samples {
        hash.update([0x02]);
        hash.update(jitter().to_le_bytes());
    }
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&hash.finalize());
    Seed {
        bytes,
        quality: match source {
            Some(s) if hardware_ok => SeedQuality::Hardware(s),
            _ => SeedQuality::JitterOnly,
        },
        hardware_words,
        jitter_samples: samples,
    }
}

/// Personalisation string of the kernel's random-number generator.
const DRBG_LABEL: &[u8] = b"exo/drbg/v1";

/// Requests between automatic reseeds from the caller's fresh input.
pub const RESEED_INTERVAL: u64 = 1 << 16;

/// HMAC-DRBG (NIST SP 800-90A, SHA-256): the kernel's generator behind
/// `RANDOM_GET` (and so the libOS's `/dev/urandom`). Instantiated from the
/// boot seed under its own label, so its output is unrelated to the
/// capability key derived from the same seed. State is zeroized on drop.
pub struct Drbg {
    key: [u8; 32],
    value: [u8; 32],
    requests: u64,
}

type HmacSha256 = Hmac<Sha256>;

impl Drbg {
    /// Instantiates from `seed` (the boot seed's bytes).
    #[must_use]
    pub fn new(seed: &[u8; 32]) -> Self {
        let mut d = Self {
            key: [0; 32],
            value: [1; 32],
            requests: 0,
        };
        d.update(&[seed, DRBG_LABEL]);
        d
    }

    fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(key) {
            Ok(m) => m,
            // HMAC takes keys of any length; unreachable.
            Err(_) => return [0; 32],
        };
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The DRBG update function with provided data `parts`.
    fn update(&mut self, parts: &[&[u8]]) {
        let mut with0: alloc::vec::Vec<&[u8]> = alloc::vec![&self.value[..], &[0x00]];
        with0.extend_from_slice(parts);
        let key = Self::hmac(&self.key, &with0);
        self.key = key;
        self.value = Self::hmac(&self.key, &[&self.value]);
        if parts.iter().any(|p| !p.is_empty()) {
            let mut with1: alloc::vec::Vec<&[u8]> = alloc::vec![&self.value[..], &[0x01]];
            with1.extend_from_slice(parts);
            let key = Self::hmac(&self.key, &with1);
            self.key = key;
            self.value = Self::hmac(&self.key, &[&self.value]);
        }
    }

    /// Mixes fresh input (e.g. hardware words, jitter) into the state.
    pub fn reseed(&mut self, input: &[u8]) {
        self.update(&[input]);
        self.requests = 0;
    }

    /// Whether [`RESEED_INTERVAL`] requests have passed since the last
    /// reseed (the caller should feed fresh input).
    #[must_use]
    pub fn wants_reseed(&self) -> bool {
        self.requests >= RESEED_INTERVAL
    }

    /// Fills `out` with generator output.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            self.value = Self::hmac(&self.key, &[&self.value]);
            chunk.copy_from_slice(&self.value[..chunk.len()]);
        }
        self.update(&[]);
        self.requests += 1;
    }
}

impl Drop for Drbg {
    fn drop(&mut self) {
        self.key.zeroize();
        self.value.zeroize();
    }
}

impl fmt::Debug for Drbg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drbg")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn drbg_is_deterministic_in_its_seed_and_never_repeats() {
        let mut a = Drbg::new(&[7; 32]);
        let mut b = Drbg::new(&[7; 32]);
        let mut c = Drbg::new(&[8; 32]);
        let (mut x, mut y, mut z) = ([0u8; 70], [0u8; 70], [0u8; 70]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut x2 = [0u8; 70];
        a.fill(&mut x2);
        assert_ne!(x, x2, "successive outputs differ");
        b.reseed(b"fresh");
        b.fill(&mut y);
        assert_ne!(x2, y, "reseeding changes the stream");
        assert!(format!("{a:?}").contains("requests: 2"));
        // Not a constant stream: bytes spread over the range.
        let mut big = [0u8; 4096];
        a.fill(&mut big);
        let distinct = big
            .iter()
            .collect::<alloc::collections::BTreeSet<_>>()
            .len();
        assert!(distinct > 200, "{distinct}");
    }

    #[test]
    fn drbg_matches_an_independent_hmac_drbg() {
        // HMAC_DRBG(SHA-256) instantiated with seed ‖ label, no
        // additional input; the first 32 output bytes, computed with
        // Python's hmac module to pin the construction.
        let mut d = Drbg::new(&[0x11; 32]);
        let mut out = [0u8; 32];
        d.fill(&mut out);
        let expected = [
            0x10, 0x1e, 0xaa, 0x9d, 0xe2, 0xb2, 0xa7, 0x88, 0x85, 0x5c, 0x12, 0x4a, 0x02, 0xa3,
            0x3f, 0x26, 0xaf, 0x92, 0xa3, 0xd9, 0x25, 0xa7, 0x74, 0x20, 0x84, 0xe5, 0x60, 0x3b,
            0xa7, 0x33, 0x34, 0xe2,
        ];
        assert_eq!(out, expected);
    }

    fn counter(start: u64) -> impl FnMut() -> u64 {
        let mut n = start;
        move || {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            n
        }
    }

    #[test]
    fn hardware_seed_uses_hardware_and_some_jitter() {
        let mut hw = counter(1);
        let seed = gather(|| Some((EntropySource::Rdseed, hw())), counter(2));
        assert_eq!(seed.quality(), SeedQuality::Hardware(EntropySource::Rdseed));
        assert_eq!(seed.hardware_words(), HARDWARE_WORDS);
        assert_eq!(seed.jitter_samples(), JITTER_SAMPLES);
        assert_eq!(
            format!("{}", seed.quality()),
            "RDSEED + cycle-counter jitter"
        );
    }

    #[test]
    fn missing_hardware_falls_back_to_many_jitter_samples() {
        let seed = gather(|| None, counter(2));
        assert_eq!(seed.quality(), SeedQuality::JitterOnly);
        assert_eq!(seed.hardware_words(), 0);
        assert_eq!(seed.jitter_samples(), JITTER_ONLY_SAMPLES);
    }

    #[test]
    fn failing_hardware_counts_as_missing() {
        // Three words then failure: less than 256 bits, so jitter-only.
        let mut left = 3;
        let seed = gather(
            || {
                left -= 1;
                (left >= 0).then_some((EntropySource::Rdrand, 7))
            },
            counter(3),
        );
        assert_eq!(seed.quality(), SeedQuality::JitterOnly);
        assert_eq!(seed.hardware_words(), 3);
        assert_eq!(seed.jitter_samples(), JITTER_ONLY_SAMPLES);
    }

    #[test]
    fn jitter_labelled_as_hardware_is_not_credited() {
        let seed = gather(|| Some((EntropySource::CycleJitter, 1)), counter(4));
        assert_eq!(seed.quality(), SeedQuality::JitterOnly);
    }

    #[test]
    fn every_input_changes_the_seed() {
        let base = gather(|| Some((EntropySource::Rdrand, 5)), counter(9)).take();
        let other_hw = gather(|| Some((EntropySource::Rdrand, 6)), counter(9)).take();
        let other_jitter = gather(|| Some((EntropySource::Rdrand, 5)), counter(10)).take();
        assert_ne!(base, other_hw);
        assert_ne!(base, other_jitter);
        assert_ne!(other_hw, other_jitter);
        // Deterministic in its inputs (the randomness is all in them).
        assert_eq!(
            base,
            gather(|| Some((EntropySource::Rdrand, 5)), counter(9)).take()
        );
    }

    #[test]
    fn debug_hides_the_bytes() {
        let seed = gather(|| None, counter(1));
        let shown = format!("{seed:?}");
        assert!(shown.starts_with("Seed { quality: JitterOnly"), "{shown}");
        assert!(!shown.contains("bytes"));
    }
}
