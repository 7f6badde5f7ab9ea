//! Links the raw arm64 Image (the `aarch64-unknown-none` build) with
//! `raw.ld`; the UEFI build is a PE application and needs no script.
fn main() {
    println!("cargo:rerun-if-changed=raw.ld");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "none" {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
        println!("cargo:rustc-link-arg-bins=-T{dir}/raw.ld");
    }
}
