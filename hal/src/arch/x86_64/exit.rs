//! Leaving QEMU with a status through the `isa-debug-exit` device.
//!
//! QEMU started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04` exits
//! with `(code << 1) | 1` when the guest writes `code` to port 0xf4. On real
//! hardware the port is unused and the write does nothing, so the kernel then
//! halts.

use crate::ExitCode;
use x86_64::instructions::port::Port;

/// The I/O port QEMU's debug-exit device listens on.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Exits QEMU with `code`, or halts forever on a machine without the device.
pub fn exit(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is QEMU's debug-exit device or nothing at all; a
    // write has no other effect.
    unsafe { port.write(code as u32) };
    super::cpu::halt_forever()
}
