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
