//! COM1, a 16550 UART at I/O port 0x3f8: the console.

use crate::Console;
use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::instructions::port::Port;

/// The first PC serial port.
pub const COM1: u16 = 0x3f8;

/// The COM1 console; lines are written whole under a lock with interrupts
/// off so a timer tick cannot interleave output.
#[derive(Debug)]
pub struct Serial {
    uart: Mutex<Option<Uart16550<PioBackend>>>,
}

/// The one serial console.
pub static SERIAL: Serial = Serial {
    uart: Mutex::new(None),
};

impl Serial {
    /// Programs COM1 for 115200 8N1. Output before this (or if it fails) goes
    /// through [`emergency_write`], which needs no setup under QEMU.
    pub fn init(&self) {
        // SAFETY: COM1's eight ports belong to this driver alone.
        let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else {
            return;
        };
        if uart.init(Config::default()).is_ok() {
            *self.uart.lock() = Some(uart);
        }
    }
}

impl Console for Serial {
    fn write_bytes(&self, bytes: &[u8]) {
        without_interrupts(|| match self.uart.lock().as_mut() {
            Some(uart) => uart.send_bytes_exact(bytes),
            None => emergency_write(bytes),
        });
    }
}

/// Writes straight to COM1's data port, polling the line-status register,
/// taking no lock: for the panic and exception paths, which may have
/// interrupted a holder of the console lock.
pub fn emergency_write(bytes: &[u8]) {
    let mut data = Port::<u8>::new(COM1);
    let mut status = Port::<u8>::new(COM1 + 5);
    for &b in bytes {
        for _ in 0..100_000 {
            // SAFETY: reading COM1's line-status register has no side effect.
            if unsafe { status.read() } & 0x20 != 0 {
                break;
            }
        }
        // SAFETY: writing a byte to COM1's transmit register.
        unsafe { data.write(b) };
    }
}

/// A `core::fmt::Write` over [`emergency_write`].
#[derive(Debug, Default)]
pub struct EmergencyWriter;

impl core::fmt::Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        emergency_write(s.as_bytes());
        Ok(())
    }
}
