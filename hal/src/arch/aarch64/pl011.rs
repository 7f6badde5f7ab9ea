//! Arm PrimeCell PL011 UART (the console on QEMU `virt` and the Raspberry
//! Pi 5's debug header).
//!
//! The firmware has already configured the UART it printed through, so a
//! UART that is enabled for transmission is left as it is; only a disabled
//! one is programmed (8N1, FIFOs on, and the divisor from the device
//! tree's clock when it gives one). Either way the divisor the device tree
//! implies is computed and compared with what the hardware holds, which
//! catches a wrong clock in the tree (or in a hand-written table).

use core::ptr::{read_volatile, write_volatile};

const DR: usize = 0x00;
const FR: usize = 0x18;
const IBRD: usize = 0x24;
const FBRD: usize = 0x28;
const LCR_H: usize = 0x2c;
const CR: usize = 0x30;
const IMSC: usize = 0x38;

const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;
const LCR_H_FEN: u32 = 1 << 4;
const LCR_H_WLEN8: u32 = 0b11 << 5;

/// Polls of the FIFO-full flag before a byte is dropped, so a wedged UART
/// cannot hang the kernel.
const TX_SPINS: u32 = 1_000_000;

/// The PL011 baud-rate divisor for `clock_hz` and `baud`: (integer,
/// fraction in 64ths), rounded to the nearest 64th.
#[must_use]
pub const fn divisor(clock_hz: u32, baud: u32) -> (u32, u32) {
    if baud == 0 {
        return (0, 0);
    }
    let sixty_fourths = (clock_hz as u64 * 4 + baud as u64 / 2) / baud as u64;
    ((sixty_fourths >> 6) as u32, (sixty_fourths & 0x3f) as u32)
}

/// What [`Pl011::init`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pl011Setup {
    /// The UART was enabled by firmware and left as it was.
    pub kept_firmware_setup: bool,
    /// The divisor the hardware holds now.
    pub divisor: (u32, u32),
    /// The divisor the device tree's clock and baud rate imply.
    pub expected: Option<(u32, u32)>,
}

/// A PL011 at a fixed, identity-mapped register base.
#[derive(Debug)]
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// A driver for the PL011 whose registers start at `base`.
    ///
    /// # Safety
    /// `base` must be a PL011's register block, mapped as device memory,
    /// and no other code may program the UART while this driver exists.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: a mapped PL011 register.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: `new`'s contract: a mapped PL011 register we own.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    /// Keeps a working firmware setup or programs the UART; see the module
    /// documentation.
    pub fn init(&self, clock_hz: Option<u32>, baud: Option<u32>) -> Pl011Setup {
        let expected = clock_hz.zip(baud).map(|(c, b)| divisor(c, b));
        let cr = self.read(CR);
        let kept = cr & (CR_UARTEN | CR_TXE) == CR_UARTEN | CR_TXE;
        if !kept {
            self.write(CR, 0);
            for _ in 0..TX_SPINS {
                if self.read(FR) & FR_BUSY == 0 {
                    break;
                }
            }
            if let Some((integer, fraction)) = expected {
                self.write(IBRD, integer);
                self.write(FBRD, fraction);
            }
            self.write(LCR_H, LCR_H_WLEN8 | LCR_H_FEN);
            self.write(IMSC, 0);
            self.write(CR, CR_UARTEN | CR_TXE | CR_RXE);
        }
        Pl011Setup {
            kept_firmware_setup: kept,
            divisor: (self.read(IBRD) & 0xffff, self.read(FBRD) & 0x3f),
            expected,
        }
    }

    /// Writes `bytes`, waiting for FIFO room (bounded).
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            for _ in 0..TX_SPINS {
                if self.read(FR) & FR_TXFF == 0 {
                    break;
                }
            }
            self.write(DR, u32::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::divisor;

    #[test]
    fn divisors() {
        // QEMU virt's 24 MHz apb-pclk.
        assert_eq!(divisor(24_000_000, 115_200), (13, 1));
        // The Raspberry Pi 5's 9.216 MHz UART clock divides exactly.
        assert_eq!(divisor(9_216_000, 115_200), (5, 0));
        // The 48 MHz an earlier port assumed would program 26 + 3/64.
        assert_eq!(divisor(48_000_000, 115_200), (26, 3));
        assert_eq!(divisor(1, 0), (0, 0));
    }
}
