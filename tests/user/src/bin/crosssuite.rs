//! The cross-personality suite (`tests/personality/cross`) as an
//! environment: Linux, FreeBSD and illumos processes of the libOS on the
//! exokernel itself exchanging Cap'n Proto messages and delegated
//! descriptors (the cases that need a host thread or a second environment
//! run hosted only). Exits with the number of failed cases.
#![no_std]
#![no_main]

extern crate alloc;

#[path = "../../../personality/cross/main.rs"]
mod suite;

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    exo_personality_tests::run("cross", &suite::cases()) as u64
}
