//! The kernel console across the switch from firmware to kernel.
//!
//! (On the raw path there is no firmware console: it starts in the
//! no-console state and attaches the UART as soon as the device tree is
//! read.)
//!
//! Before `ExitBootServices` log lines go to the UEFI console (which on
//! QEMU and the Raspberry Pi is the same UART); between it and the moment
//! the device tree's UART is attached they go nowhere but the boot log
//! ring (`exokernel::klog::BOOT_LOG`, which every line reaches anyway);
//! when the UART is attached, whatever the ring caught meanwhile is
//! replayed on it, so no line is lost.

use core::fmt::Write;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use exokernel::klog::{BOOT_LOG, BOOT_LOG_SIZE};
use hal::Console;
use hal::arch::aarch64::uart::CONSOLE_UART;

const UEFI: u8 = 0;
const NONE: u8 = 1;
const UART: u8 = 2;

/// The console klog writes to.
#[derive(Debug)]
pub struct BootConsole {
    state: AtomicU8,
    /// Boot-log position when the firmware console went away.
    mark: AtomicU64,
}

/// The one boot console.
pub static BOOT_CONSOLE: BootConsole = BootConsole {
    state: AtomicU8::new(UEFI),
    mark: AtomicU64::new(0),
};

impl BootConsole {
    /// Stops using the UEFI console: call right before
    /// `ExitBootServices`.
    pub fn leave_firmware(&self) {
        self.mark
            .store(BOOT_LOG.lock().total_written(), Ordering::Relaxed);
        self.state.store(NONE, Ordering::Relaxed);
    }

    /// Switches to the (attached) device-tree UART, first replaying what
    /// was logged since [`leave_firmware`](Self::leave_firmware). Returns
    /// the bytes replayed.
    pub fn use_uart(&self) -> u64 {
        let mark = self.mark.load(Ordering::Relaxed);
        let log = BOOT_LOG.lock();
        let missed = log.total_written().saturating_sub(mark);
        let (a, b) = log.contents();
        let kept = (a.len() + b.len()) as u64;
        let skip = kept.saturating_sub(missed.min(BOOT_LOG_SIZE as u64)) as usize;
        if skip < a.len() {
            CONSOLE_UART.write_bytes(&a[skip..]);
            CONSOLE_UART.write_bytes(b);
        } else {
            CONSOLE_UART.write_bytes(&b[skip - a.len()..]);
        }
        drop(log);
        self.state.store(UART, Ordering::Relaxed);
        missed
    }
}

impl Console for BootConsole {
    fn write_bytes(&self, bytes: &[u8]) {
        match self.state.load(Ordering::Relaxed) {
            #[cfg(target_os = "uefi")]
            UEFI => {
                let text = core::str::from_utf8(bytes).unwrap_or("<non-UTF-8 log line>\n");
                // Boot services are active in this state (the switch away
                // happens before ExitBootServices).
                uefi::system::with_stdout(|out| {
                    let _ = out.write_str(text);
                });
            }
            UART => CONSOLE_UART.write_bytes(bytes),
            _ => {}
        }
    }
}

/// `core::fmt::Write` over the boot console, for the panic path.
#[derive(Debug)]
pub struct Writer;

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        BOOT_CONSOLE.write_bytes(s.as_bytes());
        Ok(())
    }
}
