//! Dies by the exception its environment id selects (id mod 4): a page
//! fault, an invalid opcode, a divide error or a general-protection
//! fault. The kernel must kill it and keep everyone else running.
#![no_std]
#![no_main]

use exo_sys::println;

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    match env % 4 {
        0 => {
            println!("faulter {env}: writing to an unmapped page");
            // SAFETY: deliberately invalid; the kernel kills us.
            unsafe { (0x7000_0000 as *mut u64).write_volatile(1) };
        }
        1 => {
            println!("faulter {env}: executing ud2");
            // SAFETY: deliberately raises #UD.
            unsafe { core::arch::asm!("ud2") };
        }
        2 => {
            println!("faulter {env}: dividing by zero");
            // SAFETY: deliberately raises #DE.
            unsafe {
                core::arch::asm!("xor ecx, ecx", "div ecx", out("eax") _, out("edx") _, out("ecx") _)
            };
        }
        _ => {
            println!("faulter {env}: executing a privileged instruction");
            // SAFETY: deliberately raises #GP (CLI at CPL 3).
            unsafe { core::arch::asm!("cli") };
        }
    }
    println!("faulter {env}: still alive?!");
    1
}
