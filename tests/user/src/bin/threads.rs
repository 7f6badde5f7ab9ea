//! Preemptive user-level threads: three threads count in tight loops with
//! no system calls; only the runtime's slice-end-upcall scheduler can make
//! them all progress. Then they finish and the main thread checks.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use exo_sys::println;
use exo_sys::rt::threads;

static COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static STOP: AtomicBool = AtomicBool::new(false);

fn worker(i: u64) {
    let slot = &COUNTS[i as usize];
    while !STOP.load(Ordering::Relaxed) {
        slot.fetch_add(1, Ordering::Relaxed);
    }
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let ids: [usize; 3] = [
        threads::spawn(worker, 0),
        threads::spawn(worker, 1),
        threads::spawn(worker, 2),
    ];
    // Spin (no system calls) until every worker has counted: only
    // preemption lets them run.
    while COUNTS.iter().any(|c| c.load(Ordering::Relaxed) < 1000) {
        core::hint::spin_loop();
    }
    STOP.store(true, Ordering::Relaxed);
    while !ids.iter().all(|&id| threads::finished(id)) {
        core::hint::spin_loop();
    }
    let counts: [u64; 3] = core::array::from_fn(|i| COUNTS[i].load(Ordering::Relaxed));
    println!(
        "threads {env}: 3 threads finished, counts {counts:?}, {} switches in the slice-end upcall",
        threads::switches()
    );
    0
}
