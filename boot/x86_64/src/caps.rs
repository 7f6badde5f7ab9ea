//! The kernel's capability space: keyed at boot from the best entropy the
//! HAL offers.

use exokernel::cap::{CapKey, CapSpace, CapSpaceConfig, RootAuthority};
use exokernel::entropy::{self, Drbg, SeedQuality};
use hal::arch::x86_64::{cpu, entropy as hw};
use log::{info, warn};

/// Environments the kernel can hold at once (ids `0..MAX_ENVS`).
pub const MAX_ENVS: u32 = 64;
/// Capability slots per environment.
pub const SLOTS_PER_ENV: u32 = 256;

/// Draws the per-boot seed; builds the capability space keyed from it and
/// the kernel's random-number generator (separate labels, unrelated
/// outputs).
pub fn init() -> (CapSpace, RootAuthority, Drbg) {
    let start = cpu::rdtsc();
    let seed = entropy::gather(hw::hardware_word, hw::jitter_sample);
    let took = cpu::tsc_delta_us(start, cpu::rdtsc()).unwrap_or(0);
    match seed.quality() {
        SeedQuality::Hardware(_) => info!(
            "capability key: seeded from {} ({} hardware words, {} jitter samples, {took} us)",
            seed.quality(),
            seed.hardware_words(),
            seed.jitter_samples()
        ),
        SeedQuality::JitterOnly => warn!(
            "capability key: no usable RDSEED/RDRAND; seeded from {} ({} samples, {took} us) - weak",
            seed.quality(),
            seed.jitter_samples()
        ),
    }
    let bytes = seed.take();
    let drbg = Drbg::new(&bytes);
    let key = CapKey::from_seed(bytes);
    let config = CapSpaceConfig {
        max_envs: MAX_ENVS,
        slots_per_env: SLOTS_PER_ENV,
    };
    match CapSpace::new(key, config) {
        Ok((caps, root)) => (caps, root, drbg),
        Err(e) => crate::fail_boot(format_args!("capability space: {e}")),
    }
}
