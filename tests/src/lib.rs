//! The QEMU boot-test harness.
//!
//! Boots an exo image in QEMU with serial on a pipe, collects serial lines
//! as they arrive, enforces a timeout, and checks the exit status (from the
//! `isa-debug-exit` device on x86_64) together with required and forbidden
//! lines. QEMU is killed when a [`Qemu`] is dropped, so a failed or timed-out
//! test never leaves a guest running. On failure the error carries the tail
//! of the serial log.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

pub mod aarch64;
pub mod scenarios;

/// Serial lines kept for the failure report.
pub const TAIL_LINES: usize = 40;

/// Which firmware boots the x86_64 ISO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, QEMU's default.
    Bios,
    /// OVMF (UEFI), from Debian's `ovmf` package.
    Uefi,
}

/// Path of OVMF's combined image.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Whether KVM can run guests here: the device must exist and the CPU must
/// advertise hardware virtualisation (a VM without nested virtualisation
/// has `/dev/kvm` but no `vmx`/`svm` flag, and its guests hang).
pub fn kvm_usable() -> bool {
    Path::new("/dev/kvm").exists()
        && std::fs::read_to_string("/proc/cpuinfo")
            .map(|c| {
                c.lines()
                    .any(|l| l.starts_with("flags") && (l.contains(" vmx") || l.contains(" svm")))
            })
            .unwrap_or(false)
}

/// How to start QEMU for an x86_64 ISO.
#[derive(Clone, Debug)]
pub struct X86Machine {
    /// The ISO to boot.
    pub iso: PathBuf,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Firmware.
    pub firmware: Firmware,
    /// The `-machine` argument, e.g. `q35` or `pc,acpi=off`.
    pub machine: String,
    /// The `-cpu` model, e.g. `max` or `qemu64` (no RDRAND).
    pub cpu: String,
    /// Deterministic instruction counting (`-icount shift=0`): virtual time
    /// advances one nanosecond per instruction, so TSC deltas measure
    /// instructions executed rather than host speed.
    pub icount: bool,
    /// Serial and QEMU's monitor multiplexed on the terminal (Ctrl-A X
    /// quits), instead of serial alone on a pipe.
    pub interactive: bool,
}

impl X86Machine {
    /// The QEMU command line. Serial goes to stdout; there is no display;
    /// `-no-reboot` turns a triple fault into an exit instead of a loop.
    pub fn command(&self, kvm: bool) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-machine", &self.machine])
            .args(["-cpu", &self.cpu])
            .args(["-m", &self.memory_mib.to_string()])
            .args(if self.icount {
                &["-icount", "shift=0"][..]
            } else {
                &[][..]
            })
            .args(["-display", "none"])
            .args(["-no-reboot"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .arg("-cdrom")
            .arg(&self.iso);
        if self.interactive {
            cmd.args(["-serial", "mon:stdio"]);
        } else {
            cmd.args(["-serial", "stdio", "-monitor", "none"]);
        }
        if self.firmware == Firmware::Uefi {
            cmd.args(["-bios", OVMF]);
        }
        if kvm {
            cmd.args(["-accel", "kvm"]);
        } else {
            cmd.args(["-accel", "tcg"]);
        }
        cmd
    }
}

/// Path of the aarch64 UEFI firmware (EDK2's ArmVirtQemu build, Debian's
/// `qemu-efi-aarch64`).
pub const AAVMF: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/// How to start QEMU for an aarch64 ESP image.
#[derive(Clone, Debug)]
pub struct Aarch64Machine {
    /// The FAT image holding `EFI/BOOT/BOOTAA64.EFI`.
    pub image: PathBuf,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// The `-machine` argument; it must say `acpi=off`, or the firmware
    /// publishes no device tree.
    pub machine: String,
    /// The `-cpu` model, e.g. `cortex-a72` (no RNDR) or `max`.
    pub cpu: String,
    /// Enable semihosting, the only way the guest can choose QEMU's exit
    /// status (the kernel uses it only when its command line says
    /// `semihosting`).
    pub semihosting: bool,
    /// Serial and QEMU's monitor multiplexed on the terminal (Ctrl-A X
    /// quits), instead of serial alone on a pipe.
    pub interactive: bool,
}

impl Aarch64Machine {
    /// The QEMU command line: UEFI firmware, the image on virtio, serial to
    /// stdout, no display, `-no-reboot`; always TCG (see TOOLCHAIN: KVM is
    /// unusable here, and there is no aarch64 host anyway).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.args(["-machine", &self.machine])
            .args(["-cpu", &self.cpu])
            .args(["-m", &self.memory_mib.to_string()])
            .args(["-bios", AAVMF])
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio",
                self.image.display()
            ))
            .args(["-display", "none"])
            .args(["-no-reboot"]);
        if self.semihosting {
            cmd.args(["-semihosting-config", "enable=on,target=native"]);
        }
        if self.interactive {
            cmd.args(["-serial", "mon:stdio"]);
        } else {
            cmd.args(["-serial", "stdio", "-monitor", "none"]);
        }
        cmd
    }
}

/// How to start QEMU for a raw arm64 `Image` booted without firmware:
/// QEMU loads it at RAM + its header's `text_offset` and enters it with
/// `x0` = the device tree, as a Linux kernel.
#[derive(Clone, Debug)]
pub struct DirectMachine {
    /// The flat image.
    pub kernel: PathBuf,
    /// The board's device tree (QEMU fills in `/memory` and `bootargs`).
    pub dtb: PathBuf,
    /// The `-machine` argument, e.g. `raspi4b`.
    pub machine: String,
    /// The kernel command line.
    pub append: String,
    /// Which `-serial` port carries the console (earlier ones go to
    /// `null`).
    pub console_serial: usize,
    /// Serial and QEMU's monitor multiplexed on the terminal.
    pub interactive: bool,
}

impl DirectMachine {
    /// The QEMU command line: the image, the tree, semihosting (the only
    /// exit without PSCI), the console's serial port on stdout, no display,
    /// `-no-reboot`, TCG.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.args(["-machine", &self.machine])
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-dtb")
            .arg(&self.dtb)
            .args(["-append", &self.append])
            .args(["-semihosting-config", "enable=on,target=native"])
            .args(["-display", "none"])
            .args(["-no-reboot"]);
        for _ in 0..self.console_serial {
            cmd.args(["-serial", "null"]);
        }
        if self.interactive {
            cmd.args(["-serial", "mon:stdio"]);
        } else {
            cmd.args(["-serial", "stdio", "-monitor", "none"]);
        }
        cmd
    }
}

/// A running QEMU whose serial output is being collected.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
    started: Instant,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished boot produced.
#[derive(Debug)]
pub struct Outcome {
    /// Every serial line, escape sequences and CRs removed.
    pub log: Vec<String>,
    /// QEMU's exit status (`None` if killed by a signal).
    pub status: Option<i32>,
    /// Time from QEMU start to the first line containing the marker.
    pub marker_after: Option<Duration>,
    /// Total run time.
    pub elapsed: Duration,
}

impl Outcome {
    /// The last [`TAIL_LINES`] lines, for failure reports.
    pub fn tail(&self) -> String {
        let start = self.log.len().saturating_sub(TAIL_LINES);
        self.log[start..].join("\n")
    }

    /// Whether some line contains `needle`.
    pub fn has(&self, needle: &str) -> bool {
        self.log.iter().any(|l| l.contains(needle))
    }
}

/// Removes ANSI escape sequences and carriage returns that firmware mixes
/// into serial output, so lines can be matched as text.
pub fn clean_line(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

impl Qemu {
    /// Starts `cmd` with stdout captured line by line.
    ///
    /// # Errors
    /// If QEMU cannot be spawned.
    pub fn spawn(mut cmd: Command) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let stdout = child.stdout.take().context("QEMU stdout")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader
                .read_until(b'\n', &mut buf)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                if tx.send(clean_line(&String::from_utf8_lossy(&buf))).is_err() {
                    break;
                }
                buf.clear();
            }
        });
        Ok(Self {
            child,
            lines,
            log: Vec::new(),
            started: Instant::now(),
        })
    }

    /// Collects output until QEMU exits or `timeout` passes (then kills it),
    /// noting when `marker` first appears. With `echo`, lines are also
    /// printed as they arrive.
    pub fn wait(mut self, timeout: Duration, marker: &str, echo: bool) -> Outcome {
        let mut marker_after = None;
        let deadline = self.started + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match self.lines.recv_timeout(deadline - now) {
                Ok(line) => {
                    if marker_after.is_none() && line.contains(marker) {
                        marker_after = Some(self.started.elapsed());
                    }
                    if echo {
                        println!("{line}");
                    }
                    self.log.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        let status = if Instant::now() >= deadline {
            let _ = self.child.kill();
            let _ = self.child.wait();
            None
        } else {
            self.child.wait().ok().and_then(|s| s.code())
        };
        Outcome {
            log: std::mem::take(&mut self.log),
            status,
            marker_after,
            elapsed: self.started.elapsed(),
        }
    }
}

/// What a scenario requires of a boot.
#[derive(Clone, Debug)]
pub struct Expect {
    /// Required exit status (`None` = must still be running at the timeout,
    /// which no scenario uses: every test boot must end by itself).
    pub status: i32,
    /// Lines that must appear (substring match).
    pub lines: Vec<String>,
    /// Lines that must not appear.
    pub absent: Vec<String>,
}

/// Checks `outcome` against `expect`.
///
/// # Errors
/// Describes every unmet expectation, followed by the serial tail.
pub fn check(outcome: &Outcome, expect: &Expect) -> Result<()> {
    let mut problems = Vec::new();
    match outcome.status {
        Some(s) if s == expect.status => {}
        Some(s) => problems.push(format!("exit status {s}, expected {}", expect.status)),
        None => problems.push(format!(
            "no exit within the timeout ({:.1} s): killed",
            outcome.elapsed.as_secs_f64()
        )),
    }
    for line in &expect.lines {
        if !outcome.has(line) {
            problems.push(format!("missing serial line containing {line:?}"));
        }
    }
    for line in &expect.absent {
        if outcome.has(line) {
            problems.push(format!("unexpected serial line containing {line:?}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "{}\n--- last {} serial lines ---\n{}",
        problems.join("\n"),
        TAIL_LINES,
        outcome.tail()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(lines: &[&str], status: Option<i32>) -> Outcome {
        Outcome {
            log: lines.iter().map(|s| s.to_string()).collect(),
            status,
            marker_after: None,
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn clean_line_strips_escapes_and_cr() {
        assert_eq!(
            clean_line("\u{1b}[2J\u{1b}[01;01Hexo booted\r\n"),
            "exo booted"
        );
    }

    #[test]
    fn status_mapping_matches_qemu() {
        assert_eq!(hal::ExitCode::Success.qemu_status(), 33);
        assert_eq!(hal::ExitCode::Failure.qemu_status(), 35);
        assert_eq!(hal::ExitCode::Panic.qemu_status(), 37);
    }

    #[test]
    fn check_reports_every_problem_with_the_tail() {
        let expect = Expect {
            status: 33,
            lines: vec!["booted".into(), "0 failed".into()],
            absent: vec!["PANIC".into()],
        };
        let good = outcome(
            &["exo booted in 3 ms", "self-tests: 9 passed, 0 failed"],
            Some(33),
        );
        assert!(check(&good, &expect).is_ok());
        let bad = outcome(&["exo booted", "!!! KERNEL PANIC at x"], Some(37));
        let err = check(&bad, &expect).unwrap_err().to_string();
        assert!(err.contains("exit status 37, expected 33"), "{err}");
        assert!(
            err.contains("missing serial line containing \"0 failed\""),
            "{err}"
        );
        assert!(
            err.contains("unexpected serial line containing \"PANIC\""),
            "{err}"
        );
        assert!(err.contains("!!! KERNEL PANIC at x"), "{err}");
        let hung = outcome(&[], None);
        assert!(
            check(&hung, &expect)
                .unwrap_err()
                .to_string()
                .contains("killed")
        );
    }

    #[test]
    fn aarch64_command_has_firmware_image_and_semihosting() {
        let m = Aarch64Machine {
            image: "esp.img".into(),
            memory_mib: 256,
            machine: "virt,acpi=off".into(),
            cpu: "cortex-a72".into(),
            semihosting: true,
            interactive: false,
        };
        let joined = m
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(joined.contains("-machine virt,acpi=off"));
        assert!(joined.contains(&format!("-bios {AAVMF}")));
        assert!(joined.contains("file=esp.img,format=raw,if=virtio"));
        assert!(joined.contains("-semihosting-config enable=on,target=native"));
        assert!(joined.contains("-no-reboot"));
        assert!(joined.contains("-serial stdio -monitor none"));
    }

    #[test]
    fn qemu_command_has_exit_device_and_no_reboot() {
        let m = X86Machine {
            iso: "x.iso".into(),
            memory_mib: 256,
            firmware: Firmware::Uefi,
            machine: "pc,acpi=off".into(),
            cpu: "qemu64".into(),
            icount: true,
            interactive: false,
        };
        let args: Vec<String> = m
            .command(false)
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-no-reboot"));
        assert!(joined.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(joined.contains("-machine pc,acpi=off"));
        assert!(joined.contains("-cpu qemu64"));
        assert!(joined.contains("-icount shift=0"));
        assert!(joined.contains(OVMF));
        assert!(joined.contains("-accel tcg"));
    }
}
