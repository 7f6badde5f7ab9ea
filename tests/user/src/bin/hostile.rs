//! A hostile environment: thousands of system calls with random numbers
//! and adversarial arguments (kernel pointers, unmapped and non-canonical
//! addresses, huge lengths, forged handles). Every call must come back
//! with a result; the kernel must survive and keep others running.
#![no_std]
#![no_main]

use exo_sys::{call, println};

const ITERATIONS: u64 = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Where the kernel image is, the kernel's map of physical memory, and
/// the first address past user space (non-canonical on x86_64).
#[cfg(target_arch = "x86_64")]
const KERNEL_IMAGE: u64 = 0x10_0000;
#[cfg(target_arch = "x86_64")]
const KERNEL_MAP: u64 = 0xffff_8000_0000_0000;
#[cfg(target_arch = "x86_64")]
const NOT_USER: u64 = 0x8000_0000_0000;
/// On aarch64: RAM, where UEFI loads the kernel; the identity map from 0;
/// the first address past the 48-bit TTBR0 range.
#[cfg(target_arch = "aarch64")]
const KERNEL_IMAGE: u64 = 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const KERNEL_MAP: u64 = 0;
#[cfg(target_arch = "aarch64")]
const NOT_USER: u64 = 1 << 48;

/// An argument chosen to hurt.
fn nasty(rng: &mut Rng, handles: &[u64]) -> u64 {
    let r = rng.next();
    match r % 12 {
        0 => 0,
        1 => u64::MAX,
        2 => KERNEL_IMAGE + r % 0x30_0000,
        3 => KERNEL_MAP + (r >> 8) % (1 << 32),
        4 => NOT_USER + (r >> 8),
        5 => exo_sys::user_address(0x40_0000) + (r >> 8) % 0x10_0000, // our own image
        6 => exo_sys::user_address(0x3000_0000) + ((r >> 8) % 64) * 0x1000, // scratch pages
        7 => r % 600,
        8 | 9 => handles
            .get((r >> 8) as usize % handles.len().max(1))
            .copied()
            .unwrap_or(r),
        _ => r,
    }
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    // Blocking IPC and exit are left out: they would end the experiment,
    // not test the kernel.
    const CALLS: [u64; 14] = [
        call::DEBUG_WRITE,
        call::YIELD,
        call::ENV_SELF,
        call::FRAME_ALLOC,
        call::FRAME_FREE,
        call::MAP,
        call::UNMAP,
        call::PROTECT,
        call::CAP_INFO,
        call::CAP_DERIVE,
        call::CAP_TRANSFER,
        call::CAP_REVOKE,
        call::CAP_DELETE,
        call::IPC_REPLY,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ env);
    let mut handles = [0u64; 32];
    let mut held = 0usize;
    let (mut ok, mut errors) = (0u64, 0u64);
    for i in 0..ITERATIONS {
        let pick = rng.next();
        let number = if pick.is_multiple_of(10) {
            pick >> 32
        } else {
            CALLS[(pick >> 8) as usize % CALLS.len()]
        };
        if number == call::DEBUG_WRITE && !pick.is_multiple_of(3) {
            // Keep the console readable: most writes get a bad pointer.
            continue;
        }
        let mut args = [0u64; 6];
        for a in &mut args {
            *a = nasty(&mut rng, &handles[..held]);
        }
        if number == call::ENV_EXIT
            || matches!(number, call::IPC_SEND | call::IPC_RECV | call::IPC_CALL)
        {
            continue;
        }
        let r = exo_sys::syscall6(number, args);
        match exo_sys::Error::from_raw(r[0]) {
            Ok(v) => {
                ok += 1;
                if matches!(
                    number,
                    call::FRAME_ALLOC | call::CAP_DERIVE | call::CAP_TRANSFER
                ) {
                    handles[held % handles.len()] = v;
                    held = (held + 1).min(handles.len());
                }
            }
            Err(_) => errors += 1,
        }
        if i % 5000 == 0 {
            println!("hostile: {i} calls so far");
        }
    }
    println!(
        "hostile: {ITERATIONS} calls done: {ok} succeeded, {errors} refused; kernel still answering"
    );
    0
}
