//! Kernel-path timing from user mode: a null system call (`ENV_SELF`) and
//! `YIELD`, which switches environments when a second copy of this program
//! runs. Prints TSC deltas; `cargo xtask bench` boots it under
//! `-icount shift=0`, where the TSC advances with instructions executed.
#![no_std]
#![no_main]

use exo_sys::println;

const N: u64 = 10_000;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let start = rdtsc();
    for _ in 0..N {
        core::hint::black_box(exo_sys::env_self());
    }
    let null = (rdtsc() - start) / N;
    let start = rdtsc();
    for _ in 0..N {
        exo_sys::yield_now();
    }
    let yields = (rdtsc() - start) / N;
    println!("bench {env}: null syscall {null} TSC cycles; yield round {yields} TSC cycles");
    0
}
