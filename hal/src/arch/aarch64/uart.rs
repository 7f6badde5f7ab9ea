//! The console UART the device tree chose, behind one lock-free handle.
//!
//! Set once after `ExitBootServices` from [`crate::platform::Uart`]; until
//! then (and if the tree names no usable UART) writes are dropped, which is
//! safe: every log line is also in the boot log ring.

use super::ns16550::Ns16550;
use super::pl011::{Pl011, Pl011Setup};
use crate::Console;
use crate::platform::{Uart, UartKind};
use spin::Once;

enum Backend {
    Pl011(Pl011),
    Ns16550(Ns16550),
}

/// The console UART.
pub struct UartConsole {
    backend: Once<Backend>,
}

impl core::fmt::Debug for UartConsole {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UartConsole")
            .field("attached", &self.backend.is_completed())
            .finish()
    }
}

/// The one console UART.
pub static CONSOLE_UART: UartConsole = UartConsole {
    backend: Once::new(),
};

/// What attaching did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    /// A PL011, with its setup.
    Pl011(Pl011Setup),
    /// A 16550.
    Ns16550,
}

impl UartConsole {
    /// Starts writing to `uart` (once; later calls return `None`).
    ///
    /// # Safety
    /// `uart.registers` must be the UART's register block, identity-mapped
    /// as device memory, and nothing else may drive that UART.
    pub unsafe fn attach(&self, uart: &Uart) -> Option<Attached> {
        if self.backend.is_completed() {
            return None;
        }
        let base = usize::try_from(uart.registers.base).ok()?;
        let mut attached = None;
        self.backend.call_once(|| match uart.kind {
            UartKind::Pl011 => {
                // SAFETY: the caller's contract.
                let pl011 = unsafe { Pl011::new(base) };
                attached = Some(Attached::Pl011(pl011.init(uart.clock_hz, uart.baud)));
                Backend::Pl011(pl011)
            }
            UartKind::Ns16550 {
                reg_shift,
                reg_io_width,
            } => {
                attached = Some(Attached::Ns16550);
                // SAFETY: the caller's contract.
                Backend::Ns16550(unsafe { Ns16550::new(base, reg_shift, reg_io_width) })
            }
        });
        attached
    }

    /// Whether a UART is attached.
    pub fn is_attached(&self) -> bool {
        self.backend.is_completed()
    }
}

impl Console for UartConsole {
    fn write_bytes(&self, bytes: &[u8]) {
        match self.backend.get() {
            Some(Backend::Pl011(u)) => u.write_bytes(bytes),
            Some(Backend::Ns16550(u)) => u.write_bytes(bytes),
            None => {}
        }
    }
}
