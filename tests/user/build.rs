//! Links every program with `user.ld`: on x86_64 at 4 MiB, the start of
//! user space (`linuxrun` at 1.75 GiB — still inside the static code
//! model's ±2 GiB — so the Linux program it loads can have 4 MiB); on
//! aarch64 at the same place plus 512 GiB, where user space starts there
//! (`exo_sys::USER_OFFSET`). On x86_64 it also builds the static musl
//! program `linuxrun` carries.
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    println!("cargo:rerun-if-changed=user.ld");
    println!("cargo:rerun-if-changed=c/hello.c");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("set by cargo");
    if arch == "aarch64" {
        println!("cargo:rustc-link-arg-bins=--defsym=EXO_BASE=0x8000400000");
        return;
    }
    println!("cargo:rustc-link-arg-bin=linuxrun=--defsym=EXO_BASE=0x70000000");
    let out = std::env::var("OUT_DIR").expect("set by cargo");
    let status = Command::new("musl-gcc")
        .args(["-static", "-O2", "-o"])
        .arg(format!("{out}/linux-hello"))
        .arg(format!("{dir}/c/hello.c"))
        .status()
        .expect("musl-gcc (Debian's musl-tools; `cargo xtask setup` installs it)");
    assert!(status.success(), "musl-gcc failed");
}
