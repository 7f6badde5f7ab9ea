//! The aarch64 kernel as a raw arm64 `Image` (`aarch64-unknown-none`,
//! linked by `boot/aarch64/raw.ld`), booted directly by QEMU's `raspi4b`
//! with the Raspberry Pi 4's real device tree from Debian — the second
//! check of the Pi-family platform code next to the UEFI boots on `virt`.

use crate::{BOOT_MARKER, cargo, check, selected, sh, target_dir};
use anyhow::{Context, Result, bail};
use exo_qemu::Qemu;
use exo_qemu::aarch64::{self, DirectScenario};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The raw image's target.
const RAW_TARGET: &str = "aarch64-unknown-none";
/// Where the DTBs come from: trixie-backports' `linux-base` (~5 MB) has
/// every arm64 DTB.
const DTB_SOURCE: exo_debian_dtb::Source = exo_debian_dtb::TRIXIE_BACKPORTS;

/// Builds the kernel for [`RAW_TARGET`] and copies its loadable bytes into
/// `target/exo-aarch64-kernel8.img` (the Raspberry Pi firmware's name for
/// a 64-bit kernel); returns that file.
pub fn build() -> Result<PathBuf> {
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        crate::AARCH64_PACKAGE,
        "--target",
        RAW_TARGET,
    ]))?;
    let elf = target_dir()
        .join(RAW_TARGET)
        .join("release")
        .join("exo-kernel");
    let image = target_dir().join("exo-aarch64-kernel8.img");
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let flat = flatten(&bytes).with_context(|| format!("flattening {}", elf.display()))?;
    std::fs::write(&image, flat).with_context(|| format!("writing {}", image.display()))?;
    Ok(image)
}

/// The file image of an ELF's `PT_LOAD` segments from the lowest address
/// on (gaps zero-filled; `.bss` beyond the last file byte left out), after
/// checking it starts with the arm64 `Image` header.
fn flatten(elf: &[u8]) -> Result<Vec<u8>> {
    let file = elf::ElfBytes::<elf::endian::LittleEndian>::minimal_parse(elf)
        .map_err(|e| anyhow::anyhow!("not an ELF: {e:?}"))?;
    let segments = file
        .segments()
        .context("no program headers")?
        .iter()
        .filter(|p| p.p_type == elf::abi::PT_LOAD && p.p_filesz > 0)
        .collect::<Vec<_>>();
    let low = segments
        .iter()
        .map(|p| p.p_paddr)
        .min()
        .context("no loadable segment")?;
    let mut out = Vec::new();
    for p in &segments {
        let at = usize::try_from(p.p_paddr - low)?;
        let data = file
            .segment_data(p)
            .map_err(|e| anyhow::anyhow!("segment data: {e:?}"))?;
        if out.len() < at + data.len() {
            out.resize(at + data.len(), 0);
        }
        out[at..at + data.len()].copy_from_slice(data);
    }
    if out.get(0x38..0x3c) != Some(b"ARM\x64") {
        bail!("no arm64 Image header at the start of the image");
    }
    Ok(out)
}

/// The board DTB `name`, fetched once into `target/tmp/dtb` (shared with
/// the HAL's device-tree tests).
fn dtb(name: &str) -> Result<PathBuf> {
    let cache = target_dir().join("tmp/dtb").join(DTB_SOURCE.suite);
    std::fs::create_dir_all(&cache)?;
    let (_, from) = exo_debian_dtb::broadcom_dtb(&cache, DTB_SOURCE, name)
        .map_err(|e| anyhow::anyhow!("fetching {name}: {e}"))?;
    eprintln!("device tree: {from}");
    Ok(cache.join(name))
}

fn run_one(kernel: &Path, scenario: &DirectScenario) -> Result<exo_qemu::Outcome> {
    let machine = scenario.machine(kernel.to_path_buf(), dtb(scenario.dtb)?);
    let outcome = Qemu::spawn(machine.command())?.wait(scenario.timeout, BOOT_MARKER, false);
    check(&outcome, &scenario.expect).with_context(|| format!("scenario '{}'", scenario.name))?;
    Ok(outcome)
}

/// Builds the raw image and runs the direct-boot scenarios whose names
/// contain one of `names` (all when empty); returns the image, or `None`
/// when none was selected.
pub fn run_scenarios(names: &[String]) -> Result<Option<PathBuf>> {
    let chosen: Vec<_> = aarch64::direct_scenarios()
        .into_iter()
        .filter(|s| selected(s.name, names))
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    let kernel = build()?;
    println!("aarch64 direct boots (raw Image, QEMU raspi4b, TCG):");
    let mut failures = Vec::new();
    for scenario in &chosen {
        let t = Instant::now();
        match run_one(&kernel, scenario) {
            Ok(outcome) => println!(
                "  ok    {:<36} {:>5.1} s{}",
                scenario.name,
                t.elapsed().as_secs_f64(),
                outcome.marker_after.map_or(String::new(), |m| format!(
                    "  (boot marker after {:.2} s)",
                    m.as_secs_f64()
                ))
            ),
            Err(e) => {
                println!(
                    "  FAIL  {:<36} {:>5.1} s",
                    scenario.name,
                    t.elapsed().as_secs_f64()
                );
                eprintln!("{e:#}");
                failures.push(scenario.name);
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} aarch64 direct-boot scenario(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(Some(kernel))
}

/// `cargo xtask run --arch aarch64 --board raspi4b`: the raw image on
/// QEMU's Raspberry Pi 4B, serial (the mini UART) here.
pub fn run(cmdline: Option<&str>) -> Result<()> {
    let kernel = build()?;
    let scenario = DirectScenario {
        cmdline: "",
        ..aarch64::direct_scenarios()
            .into_iter()
            .next()
            .context("no raspi4b scenario")?
    };
    let mut machine = scenario.machine(kernel, dtb(scenario.dtb)?);
    machine.append = format!("{} {}", cmdline.unwrap_or(""), aarch64::SEMIHOSTING_OPTION)
        .trim()
        .to_string();
    machine.interactive = true;
    eprintln!(
        "booting {} on QEMU raspi4b (raw Image, TCG); quit with Ctrl-A X",
        machine.kernel.display()
    );
    sh(&mut machine.command())
}
