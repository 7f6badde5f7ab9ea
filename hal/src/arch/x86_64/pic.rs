//! The legacy 8259 PIC pair: remapped away from the exception vectors and
//! masked, since exo routes interrupts through the APICs.

use x86_64::instructions::port::Port;

/// Remaps the PICs to vectors 32..48 (so a spurious IRQ cannot look like an
/// exception) and masks every line.
pub fn remap_and_mask() {
    let mut master_cmd = Port::<u8>::new(0x20);
    let mut master_data = Port::<u8>::new(0x21);
    let mut slave_cmd = Port::<u8>::new(0xa0);
    let mut slave_data = Port::<u8>::new(0xa1);
    // SAFETY: the standard ICW1-4 initialisation sequence on the PIC ports,
    // which nothing else in the kernel touches.
    unsafe {
        master_cmd.write(0x11);
        slave_cmd.write(0x11);
        master_data.write(32);
        slave_data.write(40);
        master_data.write(4);
        slave_data.write(2);
        master_data.write(1);
        slave_data.write(1);
        master_data.write(0xff);
        slave_data.write(0xff);
    }
}
