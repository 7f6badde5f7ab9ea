//! Measures the verifier's peak heap use and time on a 1,000-instruction
//! program: the target is under 50 KB.
//!
//! Bytes are counted by the allocator of `common/counting.rs`, only on
//! the measuring thread.
//!
//! `cargo test -p exo-bpf --test verifier_memory -- --nocapture` prints the
//! figures.

mod common;
#[path = "common/counting.rs"]
mod counting;

use std::time::Instant;

use common::*;
use exo_bpf::{ContextLayout, HashMap, Helpers, MapSet};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

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

    let ((result, elapsed), peak) = counting::peak_of(|| {
        let start = Instant::now();
        (exo_bpf::verify(&code, &cfg), start.elapsed())
    });
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
    let ((result, elapsed), peak) = counting::peak_of(|| {
        let start = Instant::now();
        (exo_bpf::verify(&long, &cfg), start.elapsed())
    });
    result.expect("verifies");
    println!(
        "verifier: {} slots; peak heap {peak} bytes; {elapsed:?}",
        long.len() / 8
    );
    assert!(peak < 50 * 1024);
}
