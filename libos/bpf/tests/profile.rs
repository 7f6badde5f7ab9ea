//! The cargo profiles: `embedded` builds contain no JIT (and so no
//! `unsafe` at all), `full` builds contain it wherever it can run.

#[cfg(all(feature = "embedded", not(feature = "jit")))]
#[test]
fn embedded_profile_has_no_jit() {
    // `HAS_JIT` is the very cfg that gates the `jit` module.
    const { assert!(!exo_bpf::HAS_JIT) };
}

#[cfg(feature = "full")]
#[test]
fn full_profile_has_the_jit_on_x86_64_and_aarch64() {
    assert_eq!(
        exo_bpf::HAS_JIT,
        cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
    );
}
