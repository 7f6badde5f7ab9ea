//! The kernel's capability space, keyed at boot from the best entropy the
//! HAL offers (RNDR where the CPU has FEAT_RNG, else counter jitter).

use exokernel::cap::{CapKey, CapSpace, CapSpaceConfig, RootAuthority};
use exokernel::entropy::{self, Drbg, SeedQuality};
use hal::arch::aarch64::{cpu, entropy as hw};
use log::{info, warn};

/// Environments the kernel can hold at once (ids `0..MAX_ENVS`).
pub const MAX_ENVS: u32 = 64;
/// Capability slots per environment.
pub const SLOTS_PER_ENV: u32 = 256;

/// Draws the per-boot seed; builds the capability space and the kernel's
/// random-number generator from it.
pub fn init(board_rng: Option<&hal::platform::Rng>) -> (CapSpace, RootAuthority, Drbg) {
    let start = cpu::counter();
    let seed = entropy::gather(hw::hardware_word, hw::jitter_sample);
    let took = cpu::counter_delta_us(start, cpu::counter(), cpu::counter_frequency());
    match seed.quality() {
        SeedQuality::Hardware(_) => info!(
            "capability key: seeded from {} ({} hardware words, {} jitter samples, {took} us)",
            seed.quality(),
            seed.hardware_words(),
            seed.jitter_samples()
        ),
        SeedQuality::JitterOnly => warn!(
            "capability key: no RNDR; seeded from {} ({} samples, {took} us) - weak{}",
            seed.quality(),
            seed.jitter_samples(),
            if board_rng.is_some() {
                " (the device tree's RNG is not driven yet)"
            } else {
                ""
            }
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
