//! Per-architecture code, one module per arch exporting the same names.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
