//! Measures the verifier's peak heap use and time on a 1,000-instruction
//! program: the target is under 50 KB.
//!
//! The library forbids `unsafe`; this test binary is separate, so it may
//! implement `GlobalAlloc` (which is an unsafe trait) to count bytes. It
//! counts only allocations made by the measuring thread, so the test
//! harness's own allocations do not blur the figure.
//!
//! `cargo test -p exo-bpf --test verifier_memory -- --nocapture` prints the
//! figures.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::*;
use exo_bpf::{ContextLayout, HashMap, Helpers, MapSet};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn measuring() -> bool {
    MEASURING.try_with(Cell::get).unwrap_or(false)
}

fn grow(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments,
// so `System`'s guarantees hold; the counters have no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && measuring() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if measuring() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && measuring() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A program of at least `slots` slots mixing straight-line arithmetic,
/// stack traffic, forward branches (including one held open across the
/// whole program), map lookups with null checks, and bounded loops.
fn big_program(slots: usize) -> Vec<u8> {
    let mut parts = vec![mov64(0, 0), st(DW, 10, -8, 0), mov64(9, 0)];
    // A branch from the top to the very end keeps one state pending
    // throughout; its offset is patched below.
    let far = parts.len();
    parts.push(jmp_imm(JEQ, 9, 1, 0));
    let mut k = 0i32;
    let len = |parts: &Vec<Vec<u8>>| parts.iter().map(|p| p.len() / 8).sum::<usize>();
    while len(&parts) < slots - 2 {
        k += 1;
        parts.extend([
            ldx(DW, 2, 10, -8),
            alu64_imm(ADD, 2, k),
            alu64_imm(AND, 2, 0xffff),
            stx(DW, 10, 2, -8),
            mov64_reg(3, 2),
            jmp_imm(JGT, 2, 1000, 2),
            alu64_imm(MUL, 3, 3),
            alu64_imm(RSH, 3, 1),
            alu64_reg(ADD, 0, 3),
        ]);
        if k % 4 == 0 {
            parts.extend([
                st(W, 10, -12, k),
                lddw_pseudo(1, 1, 0, 0),
                mov64_reg(2, 10),
                alu64_imm(ADD, 2, -12),
                call(1),
                jmp_imm(JEQ, 0, 0, 3),
                ldx(DW, 4, 0, 0),
                alu64_imm(ADD, 4, 1),
                stx(DW, 0, 4, 0),
                mov64(0, 0),
            ]);
        }
        if k % 8 == 0 {
            parts.extend([
                mov64(7, 0),
                mov64(8, 0),
                alu64_reg(ADD, 8, 7),
                alu64_imm(ADD, 7, 1),
                jmp_imm(JLT, 7, 16, -3),
                alu64_reg(ADD, 0, 8),
            ]);
        }
    }
    parts.push(alu64_imm(AND, 0, 0xff));
    let end = len(&parts);
    parts[far] = jmp_imm(JEQ, 9, 1, (end - far - 1) as i16);
    parts.push(exit());
    prog(&parts)
}

#[test]
fn thousand_instruction_program_verifies_in_under_50_kb() {
    let code = big_program(1000);
    let slots = code.len() / 8;
    assert!((1000..1020).contains(&slots), "{slots} slots");
    let helpers = Helpers::with_maps();
    let mut maps = MapSet::new();
    maps.insert(Box::new(HashMap::new(4, 8, 64).unwrap()));
    let cfg = config(&helpers, &maps, ContextLayout::default());

    // Warm up (and check acceptance) before measuring.
    let stats = exo_bpf::verify(&code, &cfg).expect("verifies");

    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    let start = Instant::now();
    let result = exo_bpf::verify(&code, &cfg);
    let elapsed = start.elapsed();
    MEASURING.with(|m| m.set(false));
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    result.expect("verifies");

    println!(
        "verifier: {slots} slots, {} functions, {} loops, peak {} pending states; \
         peak heap {peak} bytes; {elapsed:?}",
        stats.functions, stats.loops, stats.peak_pending
    );
    assert!(stats.loops >= 10, "the program has loops");
    assert!(peak < 50 * 1024, "peak heap {peak} bytes is over 50 KB");
    // Memory is independent of program length beyond the bitmaps: a
    // program four times as long stays under the same bound.
    let long = big_program(4000);
    MEASURING.with(|m| m.set(true));
    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let start = Instant::now();
    exo_bpf::verify(&long, &cfg).expect("verifies");
    let elapsed = start.elapsed();
    MEASURING.with(|m| m.set(false));
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    println!(
        "verifier: {} slots; peak heap {peak} bytes; {elapsed:?}",
        long.len() / 8
    );
    assert!(peak < 50 * 1024);
}
