//! Capability-system benchmarks (placeholder while being written).
#![allow(missing_docs)]
fn main() {}
