//! Boot entropy on x86_64: RDSEED, RDRAND, and TSC jitter.

use core::arch::x86_64::{_rdrand64_step, _rdseed64_step};

use super::cpu;
use crate::entropy::EntropySource;

/// Retries per word: Intel advises up to 10 for RDRAND; RDSEED may
/// underflow more often, so it gets more before the caller falls back.
const RDRAND_RETRIES: usize = 10;
const RDSEED_RETRIES: usize = 100;

/// Whether the CPU advertises RDSEED (CPUID.(EAX=7,ECX=0):EBX bit 18).
pub fn has_rdseed() -> bool {
    let leaf0 = core::arch::x86_64::__cpuid(0);
    if leaf0.eax < 7 {
        return false;
    }
    core::arch::x86_64::__cpuid_count(7, 0).ebx & (1 << 18) != 0
}

/// Whether the CPU advertises RDRAND (CPUID.1:ECX bit 30).
pub fn has_rdrand() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0
}

/// One 64-bit value from RDSEED, or `None` if the CPU lacks it or it keeps
/// reporting underflow.
pub fn rdseed64() -> Option<u64> {
    if !has_rdseed() {
        return None;
    }
    (0..RDSEED_RETRIES).find_map(|_| {
        let mut value = 0;
        // SAFETY: CPUID said RDSEED exists; the target feature is enabled
        // only for this call.
        (unsafe { rdseed_step(&mut value) } == 1).then_some(value)
    })
}

/// One 64-bit value from RDRAND, or `None` if the CPU lacks it or it keeps
/// failing.
pub fn rdrand64() -> Option<u64> {
    if !has_rdrand() {
        return None;
    }
    (0..RDRAND_RETRIES).find_map(|_| {
        let mut value = 0;
        // SAFETY: CPUID said RDRAND exists; the target feature is enabled
        // only for this call.
        (unsafe { rdrand_step(&mut value) } == 1).then_some(value)
    })
}

#[target_feature(enable = "rdseed")]
fn rdseed_step(value: &mut u64) -> i32 {
    _rdseed64_step(value)
}

#[target_feature(enable = "rdrand")]
fn rdrand_step(value: &mut u64) -> i32 {
    _rdrand64_step(value)
}

/// The best hardware word available: RDSEED, else RDRAND.
pub fn hardware_word() -> Option<(EntropySource, u64)> {
    rdseed64()
        .map(|w| (EntropySource::Rdseed, w))
        .or_else(|| rdrand64().map(|w| (EntropySource::Rdrand, w)))
}

/// One jitter sample: the TSC delta across a short memory-touching loop
/// whose duration varies with caches, TLBs, interrupts and (under
/// emulation) the host. The caller conditions many samples with a hash.
pub fn jitter_sample() -> u64 {
    let mut scratch = [0u64; 64];
    let start = cpu::rdtsc();
    for (i, word) in scratch.iter_mut().enumerate() {
        // Depend on the clock so the loop cannot be folded away.
        *word = core::hint::black_box(start.rotate_left(i as u32) ^ i as u64);
    }
    let end = cpu::rdtsc();
    core::hint::black_box(&scratch);
    end.wrapping_sub(start) ^ end.rotate_left(32)
}
