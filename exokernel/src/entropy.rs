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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

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
