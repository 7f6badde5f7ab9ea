//! Real board device trees, fetched at test time from Debian's arm64
//! kernel packages (never committed): the Raspberry Pi 5's for the HAL's
//! device-tree tests, the Raspberry Pi 4's for QEMU's `raspi4b` boot.
//!
//! The machine is amd64 and its apt knows no arm64 packages, so a private
//! apt configuration under the cache directory (its own sources list naming
//! the machine's own Debian mirror, its own lists and cache, architecture
//! arm64) runs `apt-get update` and `apt-get download`; `dpkg-deb` then
//! takes single DTBs out of the package (`dpkg -x` of a kernel package
//! would unpack 400 MB of modules to get 7 KB). The system's apt state is
//! not touched, and root is not needed. The package and every DTB taken
//! from it are cached, so later runs are offline.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where in Debian a DTB comes from.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// The suite, e.g. `bookworm-backports`.
    pub suite: &'static str,
    /// Package name before the kernel version, e.g. `linux-image-`.
    pub prefix: &'static str,
    /// Package name after the kernel version, e.g. `+deb12-arm64-unsigned`.
    pub suffix: &'static str,
}

/// Linux 6.12 from bookworm-backports: the first upstream Raspberry Pi 5
/// tree (console, GIC-400, timer; no RNG node yet). The DTBs are in the
/// unsigned image package (~90 MB, downloaded once).
pub const BOOKWORM_BACKPORTS: Source = Source {
    suite: "bookworm-backports",
    prefix: "linux-image-",
    suffix: "+deb12-arm64-unsigned",
};

/// The newest kernel in trixie-backports, whose Raspberry Pi 5 tree has
/// the RNG200 node. Since 6.13+ Debian ships DTBs in `linux-base-*` (~4 MB).
pub const TRIXIE_BACKPORTS: Source = Source {
    suite: "trixie-backports",
    prefix: "linux-base-",
    suffix: "+deb13-arm64",
};

/// The Raspberry Pi 5's DTB.
pub const RPI5_DTB: &str = "bcm2712-rpi-5-b.dtb";
/// The Raspberry Pi 4 Model B's DTB (QEMU's `raspi4b` needs it: it has no
/// tree of its own).
pub const RPI4_DTB: &str = "bcm2711-rpi-4-b.dtb";

/// The machine's Debian mirror, from its apt sources (deb822 or one-line).
fn mirror() -> Result<String, String> {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if let Ok(t) = std::fs::read_to_string(p) {
                texts.push(t);
            }
        }
    }
    for text in &texts {
        for stanza in text.split("\n\n") {
            let field = |key: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            };
            if field("Suites:").is_some_and(|s| s.split_whitespace().any(|s| s == "bookworm"))
                && let Some(uris) = field("URIs:")
            {
                return Ok(uris
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string());
            }
        }
        for line in text.lines() {
            let words: Vec<&str> = line
                .split_whitespace()
                .filter(|w| !w.starts_with('['))
                .collect();
            if words.first() == Some(&"deb") && words.get(2) == Some(&"bookworm") {
                return Ok(words[1].to_string());
            }
        }
    }
    Err("no Debian bookworm entry in /etc/apt to take the mirror from".into())
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Numeric parts of a version such as `6.12.95`.
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Fetches (or reads from the cache under `cache`, a directory for this
/// source alone) the Broadcom DTB `name` of `source`; returns it and a line
/// saying which package it came from.
///
/// # Errors
/// A message naming the step that failed (no mirror in the apt sources,
/// apt, no such package or DTB).
pub fn broadcom_dtb(cache: &Path, source: Source, name: &str) -> Result<(Vec<u8>, String), String> {
    let dtb = cache.join(name);
    let provenance = cache.join(format!("{name}.from"));
    if let (Ok(bytes), Ok(from)) = (std::fs::read(&dtb), std::fs::read_to_string(&provenance)) {
        return Ok((bytes, from.trim().to_string()));
    }
    let (deb, package) = package(cache, source)?;
    let extract = cache.join("extract");
    let _ = std::fs::remove_dir_all(&extract);
    std::fs::create_dir_all(&extract).map_err(|e| e.to_string())?;
    run(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' --wildcards '*/broadcom/{name}'",
        deb.display(),
        extract.display()
    )))?;
    let found = find(&extract, name).ok_or_else(|| format!("{package} has no {name}"))?;
    std::fs::copy(&found, &dtb).map_err(|e| e.to_string())?;
    let from = format!(
        "{} from Debian {} package {package}",
        found.strip_prefix(&extract).unwrap_or(&found).display(),
        source.suite
    );
    std::fs::write(&provenance, &from).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&extract);
    let bytes = std::fs::read(&dtb).map_err(|e| e.to_string())?;
    Ok((bytes, from))
}

/// The newest kernel package of `source`, downloaded once into `cache`:
/// (the `.deb`, its package name).
fn package(cache: &Path, source: Source) -> Result<(PathBuf, String), String> {
    let root = cache.join("apt");
    let download = root.join("download");
    let name_file = root.join("PACKAGE");
    if let Ok(package) = std::fs::read_to_string(&name_file)
        && let Some(deb) = first_deb(&download)
    {
        return Ok((deb, package.trim().to_string()));
    }
    for dir in [
        "state/lists/partial",
        "cache/archives/partial",
        "etc",
        "download",
    ] {
        std::fs::create_dir_all(root.join(dir)).map_err(|e| e.to_string())?;
    }
    std::fs::write(root.join("state/status"), "").map_err(|e| e.to_string())?;
    std::fs::write(
        root.join("etc/sources.list"),
        format!("deb [arch=arm64] {} {} main\n", mirror()?, source.suite),
    )
    .map_err(|e| e.to_string())?;
    let options = |cmd: &mut Command| {
        let r = root.display();
        for o in [
            format!("Dir::State={r}/state"),
            format!("Dir::State::status={r}/state/status"),
            format!("Dir::Cache={r}/cache"),
            format!("Dir::Etc::SourceList={r}/etc/sources.list"),
            format!("Dir::Etc::SourceParts={r}/etc"),
            "APT::Architecture=arm64".into(),
            "APT::Architectures=arm64".into(),
            "Debug::NoLocking=1".into(),
            "APT::Sandbox::User=root".into(),
        ] {
            cmd.args(["-o", &o]);
        }
    };
    let mut update = Command::new("apt-get");
    options(&mut update);
    run(update.args(["-qq", "update"]))?;
    let mut search = Command::new("apt-cache");
    options(&mut search);
    let listing = run(search.args([
        "search",
        "--names-only",
        &format!("^{}[0-9]", source.prefix),
    ]))?;
    let package = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            let version = name
                .strip_prefix(source.prefix)?
                .strip_suffix(source.suffix)?;
            version
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                .then(|| (version_key(version), name.to_string()))
        })
        .max()
        .map(|(_, name)| name)
        .ok_or_else(|| {
            format!(
                "no package {}<version>{} in {}",
                source.prefix, source.suffix, source.suite
            )
        })?;
    for old in std::fs::read_dir(&download)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let _ = std::fs::remove_file(old.path());
    }
    let mut get = Command::new("apt-get");
    options(&mut get);
    run(get
        .current_dir(&download)
        .args(["-qq", "download", &package]))?;
    let deb = first_deb(&download).ok_or("apt-get download left no .deb")?;
    std::fs::write(&name_file, &package).map_err(|e| e.to_string())?;
    Ok((deb, package))
}

fn first_deb(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
