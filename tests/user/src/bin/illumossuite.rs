//! The illumos personality suite (`tests/personality/illumos`) as an
//! environment: the same cases `cargo test` runs hosted, here with the
//! libOS on the exokernel itself (the door cases, which need a second
//! environment and host threads, run hosted only). Exits with the number
//! of failed cases.
#![no_std]
#![no_main]

extern crate alloc;

#[path = "../../../personality/illumos/main.rs"]
mod suite;

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    exo_personality_tests::run("illumos", &suite::cases()) as u64
}
