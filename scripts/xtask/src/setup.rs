//! `cargo xtask setup`: make a fresh Debian bookworm machine able to build
//! and test exo. Idempotent: it checks first and installs only what is
//! missing.
//!
//! QEMU comes from bookworm-backports (the base image already carries
//! backports' qemu-utils, and the system emulators must match it), so when a
//! package is missing and no backports suite is configured, one is added,
//! derived from the machine's own Debian source entry (same mirror URI).

use crate::sh;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Debian packages, installed from bookworm-backports where it has them.
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-arm",
    "ovmf",
    "qemu-efi-aarch64",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "grub-common",
    "xorriso",
    "mtools",
    // ext2 test images for the libOS (mkfs.ext2 -d, debugfs).
    "e2fsprogs",
    // BPF test programs (`clang -target bpf`).
    "clang",
    // Static Linux programs for the Linux personality (musl-gcc).
    "musl-tools",
    // The Cap'n Proto schema compiler for cross-personality messages.
    "capnproto",
    // Cross-testing the BPF runtime's aarch64 JIT under qemu-user.
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "qemu-user",
];

/// Files whose presence shows the packages are installed.
const PROBES: &[&str] = &[
    "/usr/bin/qemu-system-x86_64",
    "/usr/bin/qemu-system-aarch64",
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
    "/usr/lib/grub/i386-pc/multiboot2.mod",
    "/usr/lib/grub/x86_64-efi/multiboot2.mod",
    "/usr/bin/grub-mkrescue",
    "/usr/bin/grub-file",
    "/usr/bin/xorriso",
    "/usr/bin/mformat",
    "/usr/sbin/mkfs.ext2",
    "/usr/sbin/debugfs",
    "/usr/bin/clang",
    "/usr/bin/musl-gcc",
    "/usr/bin/capnp",
    "/usr/bin/aarch64-linux-gnu-gcc",
    "/usr/aarch64-linux-gnu/lib/libc.so.6",
    "/usr/bin/qemu-aarch64",
];

const RUST_TARGETS: &[&str] = &[
    "x86_64-unknown-none",
    "aarch64-unknown-none",
    "aarch64-unknown-uefi",
    "aarch64-unknown-linux-gnu",
];
const RUST_COMPONENTS: &[&str] = &["rustfmt", "clippy"];

const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/exo-bookworm-backports.sources";

/// Installs whatever is missing.
///
/// # Errors
/// When something is missing and cannot be installed (not root, apt fails).
pub fn run() -> Result<()> {
    rust()?;
    let missing: Vec<&str> = PROBES
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask setup: missing {}", missing.join(", "));
    if !is_root() {
        bail!(
            "packages are missing and this is not root; run as root:\n  \
             apt-get install -t bookworm-backports {}\n\
             (with a bookworm-backports suite configured), or `sudo cargo xtask setup`",
            PACKAGES.join(" ")
        );
    }
    ensure_backports()?;
    sh(Command::new("apt-get").args(["update", "-qq"]))?;
    sh(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "-t",
            "bookworm-backports",
        ])
        .args(PACKAGES))?;
    let still: Vec<&str> = PROBES
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !still.is_empty() {
        bail!("installed packages but still missing: {}", still.join(", "));
    }
    Ok(())
}

/// Makes `cargo +nightly fuzz` work: the nightly toolchain and cargo-fuzz.
///
/// # Errors
/// If either cannot be installed.
pub fn fuzzing() -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&nightly.stdout)
        .lines()
        .any(|l| l.starts_with("nightly"))
    {
        sh(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    let has_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_fuzz {
        sh(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn rust() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (install Rust with rustup first)")?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        sh(Command::new("rustup")
            .args(["target", "add"])
            .args(&missing))?;
    }
    let components = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .context("running rustup")?;
    let components = String::from_utf8_lossy(&components.stdout);
    let missing: Vec<&str> = RUST_COMPONENTS
        .iter()
        .copied()
        .filter(|c| !components.lines().any(|l| l.starts_with(c)))
        .collect();
    if !missing.is_empty() {
        sh(Command::new("rustup")
            .args(["component", "add"])
            .args(&missing))?;
    }
    Ok(())
}

/// The mirror URI of the machine's bookworm suite, from deb822 `.sources`
/// files or one-line `sources.list` entries.
pub fn debian_mirror(sources: &[(String, String)]) -> Option<String> {
    for (name, text) in sources {
        if name.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
                };
                let suites = field("Suites:").unwrap_or_default();
                if suites.split_whitespace().any(|s| s == "bookworm")
                    && let Some(uris) = field("URIs:")
                {
                    return uris.split_whitespace().next().map(str::to_string);
                }
            }
        } else {
            for line in text.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.first() == Some(&"deb") {
                    let rest: Vec<&str> = words[1..]
                        .iter()
                        .copied()
                        .filter(|w| !w.starts_with('['))
                        .collect();
                    if rest.get(1) == Some(&"bookworm") {
                        return rest.first().map(|s| s.to_string());
                    }
                }
            }
        }
    }
    None
}

fn read_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        out.push(("sources.list".to_string(), text));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut entries: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path.to_string_lossy().into_owned(), text));
            }
        }
    }
    out
}

fn ensure_backports() -> Result<()> {
    let sources = read_sources();
    if sources
        .iter()
        .any(|(_, text)| text.contains("bookworm-backports"))
    {
        return Ok(());
    }
    let mirror = debian_mirror(&sources).context(
        "no Debian bookworm entry in /etc/apt to derive a bookworm-backports suite from",
    )?;
    let stanza = format!(
        "Types: deb\nURIs: {mirror}\nSuites: bookworm-backports\nComponents: main\n\
         Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    std::fs::write(BACKPORTS_FILE, stanza).with_context(|| format!("writing {BACKPORTS_FILE}"))?;
    eprintln!("xtask setup: added bookworm-backports from {mirror}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_deb822() {
        let text = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\n\nTypes: deb\nURIs: http://security.example/debian-security\n\
                    Suites: bookworm-security\n";
        let sources = vec![(
            "/etc/apt/sources.list.d/debian.sources".to_string(),
            text.to_string(),
        )];
        assert_eq!(
            debian_mirror(&sources).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn mirror_from_one_line_format() {
        let text = "# comment\ndeb [arch=amd64] http://m.example/debian bookworm main\n";
        let sources = vec![("sources.list".to_string(), text.to_string())];
        assert_eq!(
            debian_mirror(&sources).as_deref(),
            Some("http://m.example/debian")
        );
    }

    #[test]
    fn security_only_gives_nothing() {
        let text = "Types: deb\nURIs: http://s.example\nSuites: bookworm-security\n";
        let sources = vec![("x.sources".to_string(), text.to_string())];
        assert_eq!(debian_mirror(&sources), None);
    }
}
