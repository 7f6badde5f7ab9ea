//! Dies by the exception its environment id selects (id mod 4): a page
//! fault (a data abort on aarch64), an invalid opcode, a divide error (a
//! `brk` on aarch64, where division by zero does not trap) or a
//! privileged instruction. The kernel must kill it and keep everyone else
//! running.
#![no_std]
#![no_main]

use exo_sys::println;

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    match env % 4 {
        0 => {
            println!("faulter {env}: writing to an unmapped page");
            // SAFETY: deliberately invalid; the kernel kills us.
            unsafe { (exo_sys::user_address(0x7000_0000) as *mut u64).write_volatile(1) };
        }
        _ => die(env),
    }
    println!("faulter {env}: still alive?!");
    1
}

#[cfg(target_arch = "x86_64")]
fn die(env: u64) {
    match env % 4 {
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
}

#[cfg(target_arch = "aarch64")]
fn die(env: u64) {
    match env % 4 {
        1 => {
            println!("faulter {env}: executing udf");
            // SAFETY: deliberately raises an undefined-instruction exception.
            unsafe { core::arch::asm!("udf #0") };
        }
        2 => {
            println!("faulter {env}: executing brk");
            // SAFETY: deliberately raises a breakpoint exception.
            unsafe { core::arch::asm!("brk #0x42") };
        }
        _ => {
            println!("faulter {env}: executing a privileged instruction");
            // SAFETY: deliberately traps: masking interrupts at EL0 is not
            // allowed (SCTLR_EL1.UMA is clear).
            unsafe { core::arch::asm!("msr daifset, #2") };
        }
    }
}
