//! The FreeBSD personality suite (`tests/personality/bsd`) as an
//! environment: the same cases `cargo test` runs hosted, here with the
//! libOS on the exokernel itself (cases that need host threads run hosted
//! only). Exits with the number of failed cases.
#![no_std]
#![no_main]

extern crate alloc;

#[path = "../../../personality/bsd/main.rs"]
mod suite;

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    exo_personality_tests::run("freebsd", &suite::cases()) as u64
}
