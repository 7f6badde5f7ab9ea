//! The 8254 PIT's channel 2 as a one-shot stopwatch, to calibrate the TSC
//! and the local APIC timer against a known 1.193182 MHz clock.

use x86_64::instructions::port::Port;

/// The PIT input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Busy-waits `ms` milliseconds (at most 50) on PIT channel 2.
pub fn busy_wait_ms(ms: u64) {
    let count = (PIT_HZ * ms.min(50) / 1000) as u16;
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x42, 0x43 and 0x61 are the PIT's channel 2 and its gate,
    // used by nothing else; this is the documented one-shot sequence.
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // gate on, speaker off
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0
        channel2.write(count as u8);
        channel2.write((count >> 8) as u8);
        // Restart the count by pulsing the gate.
        let g = gate.read();
        gate.write(g & !0x01);
        gate.write(g | 0x01);
    }
    // Bit 5 of port 0x61 is channel 2's output, which goes high at zero.
    for _ in 0..50_000_000u64 {
        // SAFETY: reading the gate port has no side effects.
        if unsafe { gate.read() } & 0x20 != 0 {
            return;
        }
    }
}
