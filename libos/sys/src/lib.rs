//! The libOS's view of the exokernel: the [`Exo`] trait — exactly the exo
//! ABI, as safe Rust — and its bare-metal backend.
//!
//! Everything above this crate (the libOS, personalities, applications)
//! reaches the kernel only through [`Exo`]. Two backends implement it:
//! [`BareMetal`] (here: one `syscall` instruction per call, with the
//! registers `docs/EXO_ABI.md` specifies) and `exo_hosted::HostedEnv` (the
//! real exokernel running in-process on a model machine, for ordinary Linux
//! programs and fast tests). With the `rt` feature this crate also provides
//! a program entry point and panic handler for freestanding programs.
#![no_std]
#![warn(missing_docs)]

#[cfg(all(
    feature = "rt",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
extern crate alloc;

pub use exo_abi::{CapInfo, Error, NO_CAP, access, call, irq_flags, rights, upcall, upcall_flags};

#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
mod raw;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
pub use raw::*;

#[cfg(all(
    feature = "rt",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
pub mod rt;

mod exo;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
pub use exo::BareMetal;
pub use exo::Exo;

/// Where user space starts on this architecture, relative to x86_64's
/// layout: aarch64 keeps the low 512 GiB for the kernel's identity map, so
/// its user addresses are x86_64's plus 512 GiB (docs/EXO_ABI.md).
#[cfg(target_arch = "aarch64")]
pub const USER_OFFSET: u64 = 0x80_0000_0000;
/// Where user space starts on this architecture, relative to x86_64's
/// layout (nothing to add on x86_64 itself).
#[cfg(not(target_arch = "aarch64"))]
pub const USER_OFFSET: u64 = 0;

/// The user address `offset` names in the x86_64 layout, on this
/// architecture: programs write their fixed addresses once
/// (`user_address(0x1000_0000)`) and run on both.
#[must_use]
pub const fn user_address(offset: u64) -> u64 {
    USER_OFFSET + offset
}

/// A message: sender (on receipt), four words, an optional capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sending environment (filled in on receipt).
    pub from: u64,
    /// Payload.
    pub words: [u64; 4],
    /// A capability handle or [`NO_CAP`].
    pub cap: u64,
}

impl Message {
    /// A message carrying `words` and no capability.
    #[must_use]
    pub const fn new(words: [u64; 4]) -> Self {
        Self {
            from: 0,
            words,
            cap: NO_CAP,
        }
    }

    /// The six argument registers of a send of this message to `to`.
    #[must_use]
    pub fn args(&self, to: u64) -> [u64; 6] {
        let [w0, w1, w2, w3] = self.words;
        [to, w0, w1, w2, w3, self.cap]
    }

    /// The message a receive returned in result registers `r`.
    ///
    /// # Errors
    /// The error in `r[0]`, if any.
    pub fn from_results(r: [u64; 6]) -> Result<Self, Error> {
        let from = Error::from_raw(r[0])?;
        Ok(Self {
            from,
            words: [r[1], r[2], r[3], r[4]],
            cap: r[5],
        })
    }
}
