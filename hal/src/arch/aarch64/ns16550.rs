//! 16550-compatible MMIO UART (`ns16550a`, DesignWare APB UARTs): the
//! second console backend, used when `stdout-path` names one.
//!
//! Only transmission is driven; the firmware's line settings are kept.

use core::ptr::{read_volatile, write_volatile};

const THR: usize = 0;
const LSR: usize = 5;
const LSR_THRE: u32 = 1 << 5;
const TX_SPINS: u32 = 1_000_000;

/// A 16550 at an identity-mapped register base.
#[derive(Debug)]
pub struct Ns16550 {
    base: usize,
    shift: u32,
    wide: bool,
}

impl Ns16550 {
    /// A driver for the 16550 at `base`, registers `1 << shift` bytes
    /// apart, accessed 4 bytes wide when `io_width` is 4 (else 1).
    ///
    /// # Safety
    /// `base` must be a 16550's register block, mapped as device memory,
    /// with that spacing and width, and no other code may drive it.
    pub const unsafe fn new(base: usize, shift: u32, io_width: u32) -> Self {
        Self {
            base,
            shift,
            wide: io_width == 4,
        }
    }

    fn address(&self, register: usize) -> usize {
        self.base + (register << self.shift)
    }

    fn read(&self, register: usize) -> u32 {
        let at = self.address(register);
        if self.wide {
            // SAFETY: `new`'s contract: a mapped 16550 register.
            unsafe { read_volatile(at as *const u32) }
        } else {
            // SAFETY: as above, byte-wide.
            u32::from(unsafe { read_volatile(at as *const u8) })
        }
    }

    fn write(&self, register: usize, value: u8) {
        let at = self.address(register);
        if self.wide {
            // SAFETY: `new`'s contract: a mapped 16550 register we own.
            unsafe { write_volatile(at as *mut u32, u32::from(value)) }
        } else {
            // SAFETY: as above, byte-wide.
            unsafe { write_volatile(at as *mut u8, value) }
        }
    }

    /// Writes `bytes`, waiting for the holding register (bounded).
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            for _ in 0..TX_SPINS {
                if self.read(LSR) & LSR_THRE != 0 {
                    break;
                }
            }
            self.write(THR, b);
        }
    }
}
