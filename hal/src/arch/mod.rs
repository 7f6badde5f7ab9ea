//! Per-architecture code, one module per arch exporting the same names.

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod x86_64;

#[cfg(any(
    test,
    all(target_arch = "aarch64", any(target_os = "none", target_os = "uefi"))
))]
pub mod aarch64;
