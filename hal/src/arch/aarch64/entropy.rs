//! Boot entropy on aarch64: FEAT_RNG `RNDR`, and counter jitter.
//!
//! A board RNG the device tree names (the Raspberry Pi 5's RNG200) is not
//! driven yet; boot reports it.

use super::cpu;
use crate::entropy::EntropySource;
use aarch64_cpu::asm::random::ArmRng;

/// Retries per word when RNDR reports a transient failure.
const RNDR_RETRIES: usize = 10;

/// Whether the CPU has RNDR (ID_AA64ISAR0_EL1.RNDR).
pub fn has_rndr() -> bool {
    ArmRng::new().is_some()
}

/// One word from RNDR, or `None` without FEAT_RNG or after repeated
/// failures.
pub fn hardware_word() -> Option<(EntropySource, u64)> {
    let rng = ArmRng::new()?;
    (0..RNDR_RETRIES)
        .find_map(|_| rng.rndr())
        .map(|w| (EntropySource::Rndr, w))
}

/// One jitter sample: the counter across a short memory-touching loop.
pub fn jitter_sample() -> u64 {
    let mut scratch = [0u64; 64];
    let start = cpu::counter();
    for (i, word) in scratch.iter_mut().enumerate() {
        *word = core::hint::black_box(start.rotate_left(i as u32) ^ i as u64);
    }
    let end = cpu::counter();
    core::hint::black_box(&scratch);
    end.wrapping_sub(start) ^ end.rotate_left(32)
}
