//! `cargo xtask`: exo's build driver.
//!
//! One entry point for everything that is more than a plain `cargo`
//! invocation: installing the toolchain pieces and Debian packages, building
//! the bare-metal kernel, wrapping it in a GRUB ISO, booting it in QEMU, and
//! running the whole test suite (host tests, lints, QEMU boot scenarios).

mod raw;
mod setup;

use anyhow::{Context, Result, bail};
use exo_qemu::aarch64::{self, Aarch64Scenario};
use exo_qemu::scenarios::{self, BOOT_MARKER, Scenario};
use exo_qemu::{Aarch64Machine, Firmware, Outcome, Qemu, X86Machine, check, kvm_usable};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                 install Debian packages and rustup targets (idempotent)
  build [--arch aarch64]
                        build the x86_64 kernel (release), or BOOTAA64.EFI
  iso [--arch aarch64]  build target/exo-x86_64.iso, or the FAT ESP image
                        target/exo-aarch64.img (EFI/BOOT/BOOTAA64.EFI)
  run [--uefi] [--arch x86_64|aarch64] [--board virt|raspi4b] [-- kernel command line]
                        boot in QEMU with serial on this terminal (Ctrl-A X quits);
                        aarch64: QEMU virt (acpi=off), cortex-a72, UEFI;
                        --board raspi4b: the raw arm64 Image on QEMU's Raspberry
                        Pi 4B with the Pi 4's device tree from Debian
  test                  fmt, clippy, host tests, QEMU boot scenarios
  scenarios [NAME...]   only the QEMU boot scenarios (those whose name
                        contains one of NAME, or all)
  bench [--kernel-paths]
                        host benchmarks, QEMU boot timing, and instruction
                        counts of kernel paths (only those with the flag)
  fuzz [--runs N] [TARGET...]
                        run cargo-fuzz targets (default: all, 1,000,000 runs each)
";

const KERNEL_TARGET: &str = "x86_64-unknown-none";
const KERNEL_PACKAGE: &str = "exo-kernel-x86_64";
/// The aarch64 kernel: a UEFI application.
const AARCH64_TARGET: &str = "aarch64-unknown-uefi";
const AARCH64_PACKAGE: &str = "exo-kernel-aarch64";
/// Size of the aarch64 FAT ESP image (FAT16; the kernel is ~200 KiB).
const ESP_IMAGE_BYTES: u64 = 16 << 20;
/// The freestanding user programs loaded as boot modules.
const USER_PACKAGE: &str = "exo-user-programs";
/// The target aarch64 user programs are built for.
const AARCH64_USER_TARGET: &str = "aarch64-unknown-none";
/// The user programs that run on aarch64 (the rest use x86_64 instructions
/// or devices: `rdtsc`-free ports are listed here as they come).
const AARCH64_PROGRAMS: [&str; 15] = [
    "bsdsuite",
    "illumossuite",
    "crosssuite",
    "linuxsuite",
    "bpfjit",
    "rtcdrv",
    "hello",
    "ping",
    "pong",
    "threads",
    "faulter",
    "upcalls",
    "hostile",
    "spawner",
    "libosdemo",
];
/// Modules the stock ISO (`iso/grub.cfg`, `cargo xtask run`) loads.
const DEFAULT_MODULES: [&str; 3] = ["hello", "ping", "pong"];

fn main() {
    if let Err(e) = run_command() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run_command() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        print!("{USAGE}");
        bail!("no command given");
    };
    let rest = &args[1..];
    match command.as_str() {
        "setup" => setup::run(),
        "build" if is_aarch64(rest)? => build_aarch64().map(|_| ()),
        "build" => build_kernel().map(|_| ()),
        "iso" if is_aarch64(rest)? => {
            let image = esp_image(&build_aarch64()?, "", "exo-aarch64", &DEFAULT_MODULES)?;
            println!("{}", image.display());
            Ok(())
        }
        "iso" => {
            let iso = build_iso(None)?;
            println!("{}", iso.display());
            Ok(())
        }
        "run" => run(rest),
        "test" => test(),
        "scenarios" => scenarios_matching(rest),
        "bench" => bench(rest),
        "fuzz" => fuzz(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            print!("{USAGE}");
            bail!("unknown command '{other}'")
        }
    }
}

/// The workspace root (two levels above this crate).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask lives at scripts/xtask")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Runs `cmd`, echoing it, failing on a non-zero status.
fn sh(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {}", display(cmd));
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("running {}", display(cmd)))?;
    if !status.success() {
        bail!("{} failed with {status}", display(cmd));
    }
    Ok(())
}

fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the user programs (boot modules) and the kernel ELF, and checks
/// the kernel's multiboot2 header. The programs land next to the kernel.
fn build_kernel() -> Result<PathBuf> {
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        USER_PACKAGE,
        "-p",
        KERNEL_PACKAGE,
        "--target",
        KERNEL_TARGET,
    ]))?;
    let elf = target_dir()
        .join(KERNEL_TARGET)
        .join("release")
        .join("exo-kernel");
    let ok = Command::new("grub-file")
        .args(["--is-x86-multiboot2"])
        .arg(&elf)
        .status()
        .context("running grub-file (cargo xtask setup installs it)")?;
    if !ok.success() {
        bail!("{} has no valid multiboot2 header", elf.display());
    }
    Ok(elf)
}

/// The program a module line loads: its first word (the rest is the
/// environment's boot manifest, e.g. `irq=16-23`).
fn program_of(module: &str) -> &str {
    module.split_whitespace().next().unwrap_or(module)
}

/// The GRUB configuration for an ISO whose only entry boots with `cmdline`
/// and loads `modules` (user programs, in order: environment 0, 1, …).
fn single_entry_grub_cfg(cmdline: &str, modules: &[&str]) -> String {
    let modules: String = modules
        .iter()
        .map(|m| format!("    module2 /boot/{} {m}\n", program_of(m)))
        .collect();
    format!(
        "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\n\
         terminal_input serial console\nterminal_output serial console\n\
         menuentry \"exo\" {{\n    multiboot2 /boot/exo-kernel {cmdline}\n{modules}    boot\n}}\n"
    )
}

/// Builds an ISO: the stock one (`iso/grub.cfg`) for `None`, or one whose
/// single entry passes `cmdline`.
fn build_iso(cmdline: Option<&str>) -> Result<PathBuf> {
    let elf = build_kernel()?;
    iso_from(&elf, cmdline, &DEFAULT_MODULES)
}

fn iso_from(elf: &Path, cmdline: Option<&str>, modules: &[&str]) -> Result<PathBuf> {
    let (name, cfg) = match cmdline {
        None => (
            "exo-x86_64".to_string(),
            std::fs::read_to_string(root().join("iso/grub.cfg")).context("reading iso/grub.cfg")?,
        ),
        Some(line) => {
            let slug: String = line
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(40)
                .collect();
            let mods: String = modules
                .iter()
                .map(|m| program_of(m))
                .collect::<Vec<_>>()
                .join("_");
            (
                format!("exo-x86_64-{slug}-{mods}"),
                single_entry_grub_cfg(line, modules),
            )
        }
    };
    let stage = target_dir().join("iso").join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(stage.join("boot/grub"))?;
    std::fs::copy(elf, stage.join("boot/exo-kernel"))?;
    let programs = elf.parent().context("kernel path has a directory")?;
    for module in modules.iter().chain(&DEFAULT_MODULES) {
        let program = program_of(module);
        std::fs::copy(programs.join(program), stage.join("boot").join(program))
            .with_context(|| format!("copying user program '{module}'"))?;
    }
    std::fs::write(stage.join("boot/grub/grub.cfg"), cfg)?;
    let iso = target_dir().join(format!("{name}.iso"));
    let out = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&stage)
        .output()
        .context("running grub-mkrescue (cargo xtask setup installs it)")?;
    if !out.status.success() {
        bail!(
            "grub-mkrescue failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(iso)
}

/// Whether `args` is `--arch aarch64` (`--arch x86_64` or nothing: no).
fn is_aarch64(args: &[String]) -> Result<bool> {
    match args {
        [] => Ok(false),
        [flag, arch] if flag == "--arch" && arch == "x86_64" => Ok(false),
        [flag, arch] if flag == "--arch" && arch == "aarch64" => Ok(true),
        _ => bail!("expected no option or --arch x86_64|aarch64, got {args:?}"),
    }
}

/// Builds the aarch64 kernel (a UEFI application); returns the `.efi`.
fn build_aarch64() -> Result<PathBuf> {
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        AARCH64_PACKAGE,
        "--target",
        AARCH64_TARGET,
    ]))?;
    let mut user = cargo();
    user.args([
        "build",
        "--release",
        "-p",
        USER_PACKAGE,
        "--target",
        AARCH64_USER_TARGET,
    ]);
    for program in AARCH64_PROGRAMS {
        user.args(["--bin", program]);
    }
    sh(&mut user)?;
    Ok(target_dir()
        .join(AARCH64_TARGET)
        .join("release")
        .join("exo-kernel.efi"))
}

/// Stages an ESP (`target/esp/<name>/`: `EFI/BOOT/BOOTAA64.EFI`, the
/// kernel command line in `EFI/exo/cmdline.txt`, and the boot modules:
/// each program in `EFI/exo/modules/`, its line in `EFI/exo/modules.txt`)
/// and writes it to the FAT image `target/<name>.img` with mtools; returns
/// the image. `modules` are lines `program [manifest…]`; the programs come
/// from the aarch64 user build.
fn esp_image(efi: &Path, cmdline: &str, name: &str, modules: &[&str]) -> Result<PathBuf> {
    let stage = target_dir().join("esp").join(name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(stage.join("EFI/BOOT"))?;
    std::fs::create_dir_all(stage.join("EFI/exo"))?;
    std::fs::copy(efi, stage.join("EFI/BOOT/BOOTAA64.EFI"))
        .with_context(|| format!("copying {}", efi.display()))?;
    std::fs::write(stage.join("EFI/exo/cmdline.txt"), format!("{cmdline}\n"))?;
    let mut files = vec![
        "EFI/BOOT/BOOTAA64.EFI".to_string(),
        "EFI/exo/cmdline.txt".to_string(),
    ];
    if !modules.is_empty() {
        std::fs::create_dir_all(stage.join("EFI/exo/modules"))?;
        let built = target_dir().join(AARCH64_USER_TARGET).join("release");
        let mut list = String::new();
        for line in modules {
            let program = program_of(line);
            let file = format!("EFI/exo/modules/{program}");
            if !files.contains(&file) {
                std::fs::copy(built.join(program), stage.join(&file))
                    .with_context(|| format!("copying user program {program}"))?;
                files.push(file);
            }
            list.push_str(line);
            list.push('\n');
        }
        std::fs::write(stage.join("EFI/exo/modules.txt"), list)?;
        files.push("EFI/exo/modules.txt".to_string());
    }
    let image = target_dir().join(format!("{name}.img"));
    let _ = std::fs::remove_file(&image);
    std::fs::File::create(&image)?.set_len(ESP_IMAGE_BYTES)?;
    let mtools = |program: &str, args: &[&std::ffi::OsStr]| -> Result<()> {
        let out = Command::new(program)
            .arg("-i")
            .arg(&image)
            .args(args)
            .output()
            .with_context(|| format!("running {program} (cargo xtask setup installs mtools)"))?;
        if !out.status.success() {
            bail!(
                "{program} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    mtools(
        "mformat",
        &["-v".as_ref(), "EXO-ESP".as_ref(), "::".as_ref()],
    )?;
    let mut dirs: Vec<&std::ffi::OsStr> = vec![
        "::/EFI".as_ref(),
        "::/EFI/BOOT".as_ref(),
        "::/EFI/exo".as_ref(),
    ];
    if !modules.is_empty() {
        dirs.push("::/EFI/exo/modules".as_ref());
    }
    mtools("mmd", &dirs)?;
    for file in &files {
        let from = stage.join(file);
        let to = format!("::/{file}");
        mtools("mcopy", &[from.as_os_str(), to.as_ref()])?;
    }
    Ok(image)
}

/// `cargo xtask run --arch aarch64`: QEMU virt through UEFI, serial here.
fn run_aarch64(cmdline: Option<&str>) -> Result<()> {
    let efi = build_aarch64()?;
    let line = format!("{} {}", cmdline.unwrap_or(""), aarch64::SEMIHOSTING_OPTION);
    let image = esp_image(&efi, line.trim(), "exo-aarch64-run", &DEFAULT_MODULES)?;
    eprintln!(
        "booting {} on QEMU virt (cortex-a72, UEFI, TCG); quit with Ctrl-A X",
        image.display()
    );
    let machine = Aarch64Machine {
        image,
        memory_mib: 256,
        machine: aarch64::DEFAULT_MACHINE.to_string(),
        cpu: aarch64::DEFAULT_CPU.to_string(),
        semihosting: true,
        interactive: true,
    };
    sh(&mut machine.command())
}

fn run(args: &[String]) -> Result<()> {
    setup::run()?;
    let mut firmware = Firmware::Bios;
    let mut cmdline = None;
    let mut arm = false;
    let mut raspi = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--uefi" => firmware = Firmware::Uefi,
            "--arch" => {
                i += 1;
                match args.get(i).map(String::as_str) {
                    Some("x86_64") => {}
                    Some("aarch64") => arm = true,
                    other => bail!("unknown --arch {other:?}; expected x86_64 or aarch64"),
                }
            }
            "--board" => {
                i += 1;
                match args.get(i).map(String::as_str) {
                    Some("raspi4b") => raspi = true,
                    Some("virt") => {}
                    other => bail!("unknown --board {other:?}; expected virt or raspi4b"),
                }
            }
            "--" => {
                cmdline = Some(args[i + 1..].join(" "));
                break;
            }
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
        i += 1;
    }
    if raspi {
        return raw::run(cmdline.as_deref());
    }
    if arm {
        return run_aarch64(cmdline.as_deref());
    }
    let iso = build_iso(cmdline.as_deref())?;
    let kvm = kvm_usable();
    eprintln!(
        "booting {} under {} ({}); quit with Ctrl-A X",
        iso.display(),
        if kvm { "KVM" } else { "TCG" },
        if firmware == Firmware::Uefi {
            "OVMF"
        } else {
            "SeaBIOS"
        }
    );
    let machine = X86Machine {
        iso,
        memory_mib: 256,
        firmware,
        machine: scenarios::DEFAULT_MACHINE.to_string(),
        cpu: scenarios::DEFAULT_CPU.to_string(),
        icount: false,
        interactive: true,
    };
    sh(&mut machine.command(kvm))
}

/// Runs one QEMU boot scenario; returns the time to the boot marker.
fn run_scenario(elf: &Path, scenario: &Scenario, kvm: bool) -> Result<Option<Duration>> {
    run_scenario_log(elf, scenario, kvm).map(|o| o.marker_after)
}

/// Runs one QEMU boot scenario, checks it, and returns what it printed.
fn run_scenario_log(elf: &Path, scenario: &Scenario, kvm: bool) -> Result<Outcome> {
    let iso = iso_from(elf, Some(&scenario.cmdline), scenario.modules)?;
    let machine = X86Machine {
        iso,
        memory_mib: 256,
        firmware: scenario.firmware,
        machine: scenario.machine.to_string(),
        cpu: scenario.cpu.to_string(),
        icount: scenario.icount,
        interactive: false,
    };
    let outcome = Qemu::spawn(machine.command(kvm))?.wait(scenario.timeout, BOOT_MARKER, false);
    check(&outcome, &scenario.expect).with_context(|| format!("scenario '{}'", scenario.name))?;
    Ok(outcome)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Every host crate: the kernel binaries and the user programs only build
/// for bare metal (or UEFI) and are linted on their own target.
const HOST_PACKAGES: [&str; 7] = [
    "--workspace",
    "--exclude",
    KERNEL_PACKAGE,
    "--exclude",
    USER_PACKAGE,
    "--exclude",
    AARCH64_PACKAGE,
];

fn test() -> Result<()> {
    let started = Instant::now();
    setup::run()?;
    sh(cargo().args(["fmt", "--all", "--check"]))?;
    sh(cargo()
        .arg("clippy")
        .args(HOST_PACKAGES)
        .args(["--all-targets", "--", "-D", "warnings"]))?;
    sh(cargo().args([
        "clippy",
        "-p",
        KERNEL_PACKAGE,
        "-p",
        USER_PACKAGE,
        "--target",
        KERNEL_TARGET,
        "--",
        "-D",
        "warnings",
    ]))?;
    // The aarch64 kernel, with the HAL's aarch64 code, on its own target.
    sh(cargo().args([
        "clippy",
        "-p",
        AARCH64_PACKAGE,
        "-p",
        "exo-hal",
        "--target",
        AARCH64_TARGET,
        "--",
        "-D",
        "warnings",
    ]))?;
    // The same kernel as the raw arm64 Image (`boot/aarch64/src/raw.rs`).
    sh(cargo().args([
        "clippy",
        "-p",
        AARCH64_PACKAGE,
        "--target",
        AARCH64_USER_TARGET,
        "--",
        "-D",
        "warnings",
    ]))?;
    // The user programs that run on aarch64, with the libOS's aarch64 code.
    let mut user = cargo();
    user.args([
        "clippy",
        "-p",
        USER_PACKAGE,
        "--target",
        AARCH64_USER_TARGET,
    ]);
    for program in AARCH64_PROGRAMS {
        user.args(["--bin", program]);
    }
    sh(user.args(["--", "-D", "warnings"]))?;
    sh(cargo().arg("test").args(HOST_PACKAGES))?;
    // The BPF runtime's embedded profile (interpreter only, no JIT): its own
    // lint and test run, and a bare-metal build on both kernel targets.
    const BPF_EMBEDDED: [&str; 4] = ["-p", "exo-bpf", "--no-default-features", "--features"];
    sh(cargo().arg("clippy").args(BPF_EMBEDDED).args([
        "embedded",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    sh(cargo().arg("test").args(BPF_EMBEDDED).arg("embedded"))?;
    for target in ["x86_64-unknown-none", "aarch64-unknown-none"] {
        sh(cargo()
            .arg("build")
            .args(BPF_EMBEDDED)
            .args(["embedded", "--target", target]))?;
    }
    // The BPF runtime on aarch64 Linux under qemu-user: every differential
    // test then compares the aarch64 JIT with the interpreter.
    sh(cargo().args([
        "clippy",
        "-p",
        "exo-bpf",
        "--all-targets",
        "--target",
        "aarch64-unknown-linux-gnu",
        "--",
        "-D",
        "warnings",
    ]))?;
    sh(cargo().args([
        "test",
        "-p",
        "exo-bpf",
        "--target",
        "aarch64-unknown-linux-gnu",
    ]))?;
    // Smoke run of the hosted-VFS benchmark (the full run is `xtask bench`).
    sh(cargo()
        .env("EXO_BENCH_ITERS", "2000")
        .args(["test", "-p", "exo-libos", "--bench", "vfs"]))?;
    // loom models of the capability state machine; their own target dir, as
    // `--cfg loom` would otherwise invalidate the normal build.
    sh(cargo()
        .env("RUSTFLAGS", "--cfg loom")
        .args(["test", "-p", "exokernel", "--release", "--test", "cap_loom"])
        .arg("--target-dir")
        .arg(target_dir().join("loom")))?;

    fuzz_targets(&fuzz_target_names()?, FUZZ_SMOKE_RUNS)?;

    let (elf, iso) = run_scenarios(&[])?;
    let efi = run_aarch64_scenarios(&[])?;
    let kernel8 = raw::run_scenarios(&[])?.context("no direct-boot scenario")?;
    println!(
        "kernel ELF {} KiB, ISO {} KiB; aarch64 BOOTAA64.EFI {} KiB, raw Image {} KiB; xtask test took {:.0} s",
        file_size(&elf) / 1024,
        file_size(&iso) / 1024,
        file_size(&efi) / 1024,
        file_size(&kernel8) / 1024,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn selected(name: &str, names: &[String]) -> bool {
    names.is_empty() || names.iter().any(|n| name.contains(n.as_str()))
}

fn scenarios_matching(names: &[String]) -> Result<()> {
    setup::run()?;
    let x86 = scenarios::all().iter().any(|s| selected(s.name, names));
    let arm = aarch64::aarch64_scenarios()
        .iter()
        .any(|s| selected(s.name, names));
    let direct = aarch64::direct_scenarios()
        .iter()
        .any(|s| selected(s.name, names));
    if x86 || !(arm || direct) {
        run_scenarios(names)?;
    }
    if arm {
        run_aarch64_scenarios(names)?;
    }
    raw::run_scenarios(names)?;
    Ok(())
}

/// Runs one aarch64 scenario: its own ESP image, QEMU, the checks.
fn run_aarch64_scenario(efi: &Path, scenario: &Aarch64Scenario) -> Result<Outcome> {
    let slug: String = scenario
        .cmdline
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    let image = esp_image(
        efi,
        &scenario.command_line(),
        &format!("exo-aarch64-{slug}"),
        scenario.modules,
    )?;
    let outcome =
        Qemu::spawn(scenario.machine(image).command())?.wait(scenario.timeout, BOOT_MARKER, false);
    check(&outcome, &scenario.expect).with_context(|| format!("scenario '{}'", scenario.name))?;
    Ok(outcome)
}

/// Builds the aarch64 kernel and runs the aarch64 scenarios whose names
/// contain one of `names` (all when empty); returns the `.efi`.
fn run_aarch64_scenarios(names: &[String]) -> Result<PathBuf> {
    let efi = build_aarch64()?;
    println!("aarch64 QEMU boot scenarios (virt, UEFI, TCG):");
    let mut failures = Vec::new();
    for scenario in aarch64::aarch64_scenarios()
        .into_iter()
        .filter(|s| selected(s.name, names))
    {
        let t = Instant::now();
        match run_aarch64_scenario(&efi, &scenario) {
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
            "{} aarch64 QEMU scenario(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(efi)
}

/// Builds the kernel and runs the QEMU scenarios whose names contain one of
/// `names` (all when empty); returns the kernel ELF and default ISO paths.
fn run_scenarios(names: &[String]) -> Result<(PathBuf, PathBuf)> {
    let elf = build_kernel()?;
    let iso = iso_from(&elf, None, &DEFAULT_MODULES)?;
    let kvm = kvm_usable();
    println!(
        "QEMU boot scenarios under {}:",
        if kvm {
            "KVM"
        } else {
            "TCG (KVM unusable here)"
        }
    );
    let mut failures = Vec::new();
    let selected = scenarios::all()
        .into_iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| s.name.contains(n.as_str())));
    for scenario in selected {
        let t = Instant::now();
        match run_scenario(&elf, &scenario, kvm) {
            Ok(marker) => println!(
                "  ok    {:<28} {:>5.1} s{}",
                scenario.name,
                t.elapsed().as_secs_f64(),
                marker.map_or(String::new(), |m| format!(
                    "  (boot marker after {:.2} s)",
                    m.as_secs_f64()
                ))
            ),
            Err(e) => {
                println!(
                    "  FAIL  {:<28} {:>5.1} s",
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
            "{} QEMU scenario(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok((elf, iso))
}

fn bench(args: &[String]) -> Result<()> {
    setup::run()?;
    let kernel_only = match args {
        [] => false,
        [flag] if flag == "--kernel-paths" => true,
        _ => bail!("usage: cargo xtask bench [--kernel-paths]"),
    };
    let elf = build_kernel()?;
    if kernel_only {
        return kernel_paths(&elf);
    }
    sh(cargo().args(["bench", "--workspace"]))?;
    let scenario = scenarios::all()
        .into_iter()
        .next()
        .context("no boot scenario")?;
    let kvm = kvm_usable();
    let mut times = Vec::new();
    for _ in 0..5 {
        if let Some(t) = run_scenario(&elf, &scenario, kvm)? {
            times.push(t.as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    if let Some(median) = times.get(times.len() / 2) {
        println!(
            "QEMU start -> boot marker ({}, SeaBIOS, {} runs): median {:.2} s, min {:.2} s, max {:.2} s",
            if kvm { "KVM" } else { "TCG" },
            times.len(),
            median,
            times[0],
            times[times.len() - 1]
        );
    }
    kernel_paths(&elf)
}

/// Boots the kernel-path benchmark programs under `-icount shift=0` and
/// reports instructions per null syscall, yield round and IPC round trip.
fn kernel_paths(elf: &Path) -> Result<()> {
    let scenario = scenarios::all()
        .into_iter()
        .find(|s| s.icount)
        .context("no icount scenario")?;
    let outcome = run_scenario_log(elf, &scenario, false)?;
    let khz = outcome
        .log
        .iter()
        .find_map(|l| {
            l.split("TSC: ")
                .nth(1)?
                .split(" kHz")
                .next()?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .context("no TSC calibration line")?;
    // Under icount shift=0 one instruction is one virtual nanosecond.
    let instructions = |tsc: f64| tsc * 1e6 / khz;
    let number_before = |line: &str, marker: &str| -> Option<f64> {
        line.split(marker)
            .next()?
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    };
    println!("kernel paths under TCG -icount shift=0 (TSC {khz} kHz = 1 instruction per ns):");
    for line in &outcome.log {
        if line.starts_with("bench ") {
            let null = number_before(line, " TSC cycles;").map(instructions);
            let round = line
                .rsplit("yield round ")
                .next()
                .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
                .map(instructions);
            if let (Some(null), Some(round)) = (null, round) {
                println!(
                    "  {}: null syscall {null:.0} instructions; yield round {round:.0} instructions",
                    line.split(':').next().unwrap_or("bench")
                );
            }
        } else if line.contains("IPC round trips")
            && let Some(rt) = number_before(line, " TSC cycles each")
        {
            println!(
                "  IPC call + reply round trip: {:.0} instructions",
                instructions(rt)
            );
        }
    }
    Ok(())
}

/// Executions per fuzz target inside `cargo xtask test`: a smoke run that
/// catches regressions in seconds; `cargo xtask fuzz` runs the long campaign.
const FUZZ_SMOKE_RUNS: u64 = 20_000;

/// Executions per target for `cargo xtask fuzz` without `--runs`.
const FUZZ_CAMPAIGN_RUNS: u64 = 1_000_000;

fn fuzz_target_names() -> Result<Vec<String>> {
    setup::fuzzing()?;
    let out = Command::new("cargo")
        .args(["+nightly", "fuzz", "list"])
        .current_dir(root().join("fuzz"))
        .output()
        .context("running cargo fuzz list (cargo xtask setup installs cargo-fuzz)")?;
    if !out.status.success() {
        bail!(
            "cargo fuzz list failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn fuzz_targets(targets: &[String], runs: u64) -> Result<()> {
    setup::fuzzing()?;
    for target in targets {
        seed_corpus(target)?;
        sh(Command::new("cargo")
            .args(["+nightly", "fuzz", "run", target, "--"])
            .arg(format!("-runs={runs}"))
            .current_dir(root().join("fuzz")))?;
        println!("fuzz target {target}: {runs} executions, no crash");
    }
    Ok(())
}

/// Gives targets whose inputs are too structured for libFuzzer to find
/// from nothing a valid starting point: the ext2 reader gets small real
/// images built by mkfs.ext2 (from e2fsprogs, which setup installs).
fn seed_corpus(target: &str) -> Result<()> {
    if target != "ext2_image" {
        return Ok(());
    }
    let corpus = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    let tree = target_dir().join("ext2-seed-tree");
    std::fs::create_dir_all(tree.join("dir/sub"))?;
    std::fs::write(tree.join("small"), b"hello ext2\n")?;
    std::fs::write(tree.join("dir/block"), vec![7u8; 3000])?;
    let _ = std::fs::remove_file(tree.join("link"));
    std::os::unix::fs::symlink("dir/block", tree.join("link"))?;
    for (block, size_kib) in [(1024, 64), (2048, 128), (4096, 256)] {
        let image = corpus.join(format!("seed-{block}.img"));
        if image.exists() {
            continue;
        }
        // mkfs.ext2 only writes the blocks it uses: size the file first.
        std::fs::File::create(&image)?.set_len(size_kib * 1024)?;
        let mkfs = ["/usr/sbin/mkfs.ext2", "/sbin/mkfs.ext2"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mkfs.ext2");
        sh(Command::new(mkfs)
            .args(["-q", "-F", "-b", &block.to_string(), "-N", "32", "-d"])
            .arg(&tree)
            .arg(&image)
            .arg(format!("{size_kib}k")))?;
    }
    Ok(())
}

fn fuzz(args: &[String]) -> Result<()> {
    setup::run()?;
    let mut runs = FUZZ_CAMPAIGN_RUNS;
    let mut targets = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--runs" {
            i += 1;
            runs = args
                .get(i)
                .and_then(|n| n.parse().ok())
                .context("--runs needs a number")?;
        } else {
            targets.push(args[i].clone());
        }
        i += 1;
    }
    if targets.is_empty() {
        targets = fuzz_target_names()?;
    }
    fuzz_targets(&targets, runs)
}
