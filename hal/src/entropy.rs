//! Where boot-time randomness comes from, named arch-neutrally.
//!
//! Each architecture's HAL offers a hardware source (x86_64: RDSEED, then
//! RDRAND; aarch64: RNDR, or a board RNG found in the device tree) and a
//! cycle counter whose jitter is the last resort. The exokernel's
//! `entropy` module conditions whatever it gets into the capability-key
//! seed and reports which source it used.

use core::fmt;

/// A source of boot entropy, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntropySource {
    /// x86_64 RDSEED: output of the CPU's entropy conditioner, meant for
    /// seeding.
    Rdseed,
    /// x86_64 RDRAND: the CPU's DRBG, reseeded by its entropy source.
    Rdrand,
    /// aarch64 FEAT_RNG `RNDR`.
    Rndr,
    /// A platform random-number device (e.g. a board's hardware RNG).
    Device,
    /// Timing jitter of a cycle counter: unpredictable in practice but not
    /// a vetted source, so its use is always logged as a warning.
    CycleJitter,
}

impl EntropySource {
    /// Whether this is a hardware random-number source (anything but
    /// cycle-counter jitter).
    #[must_use]
    pub const fn is_hardware(self) -> bool {
        !matches!(self, Self::CycleJitter)
    }
}

impl fmt::Display for EntropySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rdseed => "RDSEED",
            Self::Rdrand => "RDRAND",
            Self::Rndr => "RNDR",
            Self::Device => "platform RNG",
            Self::CycleJitter => "cycle-counter jitter",
        })
    }
}
