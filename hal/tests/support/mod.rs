//! Shared by the device-tree tests: a generator of (good and broken)
//! blobs, QEMU's own DTB, and the Raspberry Pi 5's from Debian.

#![expect(dead_code, reason = "each test binary uses a different part")]

pub mod debian;
pub mod dtb;

use std::path::PathBuf;
use std::process::Command;

/// Where tests may cache downloads (`target/tmp`).
pub fn cache_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("create cache directory under target/tmp");
    dir
}

/// QEMU `virt`'s device tree for `machine_options` (appended to
/// `virt,acpi=off`), written by QEMU itself (`dumpdtb`, ~0.15 s).
pub fn qemu_virt_dtb(machine_options: &str, cpu: &str) -> Vec<u8> {
    let dir = cache_dir("qemu-virt-dtb");
    let slug: String = machine_options
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let file = dir.join(format!("virt{slug}-{cpu}.dtb"));
    let machine = format!("virt,acpi=off{machine_options},dumpdtb={}", file.display());
    let out = Command::new("qemu-system-aarch64")
        .args([
            "-M", &machine, "-cpu", cpu, "-m", "256M", "-display", "none",
        ])
        .output()
        .expect("qemu-system-aarch64 must be installed (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "qemu-system-aarch64 -M {machine} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&file).expect("QEMU wrote the DTB")
}
