//! The aarch64 boot scenarios `cargo xtask test` runs after the x86_64
//! ones: QEMU `virt` through UEFI (EDK2), each a kernel command line (read
//! from `EFI/exo/cmdline.txt` on the ESP image), a machine, and what the
//! serial log and exit status must show.
//!
//! Exit statuses: success powers off through PSCI SYSTEM_OFF, so QEMU
//! exits 0; a failed self-test or a failed boot exits 35 and a panic or
//! exception 37 through semihosting `SYS_EXIT` (the statuses x86_64's
//! `isa-debug-exit` gives). QEMU therefore runs with semihosting enabled
//! and the command line carries `semihosting`, which is what allows the
//! kernel to use it.

use crate::scenarios::BOOT_MARKER;
use crate::{Aarch64Machine, DirectMachine, Expect};
use hal::ExitCode;
use std::path::PathBuf;
use std::time::Duration;

/// QEMU's exit status after PSCI SYSTEM_OFF.
pub const POWER_OFF_STATUS: i32 = 0;

/// The word that lets the kernel exit through semihosting.
pub const SEMIHOSTING_OPTION: &str = "semihosting";

/// The machine every scenario uses unless it needs another: `virt` with
/// ACPI off, so the firmware publishes the device tree.
pub const DEFAULT_MACHINE: &str = "virt,acpi=off";

/// The CPU every scenario uses unless it needs another (the issue's
/// reference core; it has no RNDR, so the capability key is jitter-seeded).
pub const DEFAULT_CPU: &str = "cortex-a72";

/// One aarch64 boot test.
#[derive(Clone, Debug)]
pub struct Aarch64Scenario {
    /// Short name, printed in results.
    pub name: &'static str,
    /// Kernel command line, without [`SEMIHOSTING_OPTION`].
    pub cmdline: &'static str,
    /// The `-machine` argument.
    pub machine: &'static str,
    /// The `-cpu` argument.
    pub cpu: &'static str,
    /// Boot modules (`program [manifest…]` lines for `EFI/exo/modules.txt`).
    pub modules: &'static [&'static str],
    /// Requirements.
    pub expect: Expect,
    /// Hard limit on the run.
    pub timeout: Duration,
}

impl Aarch64Scenario {
    /// The command line written to the ESP: the scenario's, plus
    /// [`SEMIHOSTING_OPTION`].
    pub fn command_line(&self) -> String {
        format!("{} {SEMIHOSTING_OPTION}", self.cmdline)
            .trim()
            .to_string()
    }

    /// How to start QEMU for it, booting `image`.
    pub fn machine(&self, image: PathBuf) -> Aarch64Machine {
        Aarch64Machine {
            image,
            memory_mib: 256,
            machine: self.machine.to_string(),
            cpu: self.cpu.to_string(),
            semihosting: true,
            interactive: false,
        }
    }
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Lines no successful boot may print (a device-tree warning included:
/// QEMU's tree is complete).
fn crash_lines() -> Vec<String> {
    lines(&[
        "!!! EXCEPTION",
        "!!! KERNEL PANIC",
        "FAILED",
        "WARN  exo_kernel: DT:",
    ])
}

fn self_test_pass(extra: &[&str]) -> Expect {
    let mut required = lines(&[
        BOOT_MARKER,
        "UEFI application started",
        "console /pl011@9000000 attached",
        "replayed",
        "generic timer: CNTFRQ_EL0",
        "self-tests:",
        " 0 failed",
    ]);
    required.extend(lines(extra));
    Expect {
        status: POWER_OFF_STATUS,
        lines: required,
        absent: crash_lines(),
    }
}

fn crash(extra: &[&str]) -> Expect {
    let mut required = lines(&[BOOT_MARKER]);
    required.extend(lines(extra));
    Expect {
        status: ExitCode::Panic.qemu_status(),
        lines: required,
        absent: lines(&["self-tests:"]),
    }
}

/// Every aarch64 scenario, in the order they run.
pub fn aarch64_scenarios() -> Vec<Aarch64Scenario> {
    let timeout = Duration::from_secs(60);
    vec![
        Aarch64Scenario {
            name: "aarch64 self-tests (EL1, GICv2)",
            cmdline: "test",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: self_test_pass(&[
                "started at EL1",
                "DT: console /pl011@9000000 (stdout-path): PL011 at 0x9000000",
                "DT: interrupt controller /intc@8000000: GICv2",
                "DT: timer: arm,armv8-timer",
                "DT: PSCI 1.0 via hvc",
                "DT: memory: 256 MiB",
                "GIC: hardware reports architecture v2",
                "GIC: v2 set up",
                "tick: 100 Hz on the EL1 virtual timer, INTID 27",
                "W^X: image in 4 KiB pages",
                "capability mint",
                "test brk_resumes_after_probe ... ok",
                "test kernel_image_w_xor_x ... ok",
                "test timer_ticks_through_gic ... ok",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 self-tests (EL2 drop, GICv3, 250 Hz tick)",
            cmdline: "test timer_hz=250",
            machine: "virt,acpi=off,virtualization=on,gic-version=3",
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: self_test_pass(&[
                "started at EL2",
                "entered at EL2, dropped to EL1",
                "DT: interrupt controller /intc@8000000: GICv3",
                "GIC: hardware reports architecture v3",
                "GIC: v3 set up",
                "tick: 250 Hz on the EL1 virtual timer, INTID 27",
                "W^X: image in 4 KiB pages",
                "DT: PSCI 1.0 via smc",
                "test brk_resumes_after_probe ... ok",
                "test kernel_image_w_xor_x ... ok",
                "test timer_ticks_through_gic ... ok",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 panic exits 37",
            cmdline: "crash=panic",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: crash(&[
                "!!! KERNEL PANIC at",
                "deliberate panic",
                "    backtrace:",
                "!!! kernel halted: panic",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 data abort exits 37",
            cmdline: "crash=pagefault",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: crash(&[
                "!!! EXCEPTION: synchronous from EL1 at ELR",
                "ESR 0x96000044 (data abort), FAR 0x8000001000",
                "class: EC 0x25 data abort",
                "abort: EL1 write, translation fault, level 0 (DFSC 0x04, WnR 1), address FAR=0x0000008000001000",
                "SPSR=",
                "x0 =0x0000008000001000 x1 =0x0000000000005a5a",
                "x28=",
                "    backtrace:",
                "      #0  0x",
                "!!! kernel halted: unrecoverable exception",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 W^X: a write to .text faults",
            cmdline: "fault=write-text",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: crash(&[
                "breaking W^X on purpose: WriteText",
                "(data abort)",
                "abort: EL1 write, permission fault, level 3 (DFSC 0x0f, WnR 1)",
                "x1 =0x000000000000dead",
                "!!! kernel halted: unrecoverable exception",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 W^X: executing .data faults",
            cmdline: "fault=exec-data",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: crash(&[
                "breaking W^X on purpose: ExecData",
                "(instruction abort)",
                "abort: EL1 instruction fetch, permission fault, level 3 (IFSC 0x0f",
                "!!! kernel halted: unrecoverable exception",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 undefined instruction exits 37",
            cmdline: "crash=ud",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            expect: crash(&[
                "!!! EXCEPTION: synchronous from EL1 at ELR",
                "(unknown reason (undefined instruction))",
                "class: EC 0x00 unknown reason (undefined instruction)",
                "x0 =",
                "!!! kernel halted: unrecoverable exception",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 environments: hello, ping/pong IPC",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["hello", "ping", "pong"],
            expect: environments_pass(&[
                "3 modules loaded from \\EFI\\exo\\modules.txt",
                "hello from env 0",
                "hello: mapping unowned frames: Err(BadCapability), Err(BadCapability)",
                "hello: frame 0x",
                "hello: done",
                "pong: got a page from env 1 saying 'a secret from ping'",
                "pong: mapping it writable: Err(PermissionDenied)",
                "ping: 1000 IPC round trips",
                "counter ticks each",
                "pong: after revocation the page is gone",
                "ping: pong lost the page",
                "env 0 (hello) exited with status 0",
                "env 1 (ping) exited with status 0",
                "env 2 (pong) exited with status 0",
                "(0 did not exit with status 0)",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 faulting environments",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["faulter", "faulter", "faulter", "faulter", "hello"],
            expect: Expect {
                absent: lines(&["!!! EXCEPTION", "!!! KERNEL PANIC", "still alive"]),
                ..environments_pass(&[
                    "env 0 (faulter) killed by data abort from EL0 at ip",
                    "(address 0x8070000000)",
                    "env 1 (faulter) killed by unknown reason (undefined instruction)",
                    "env 2 (faulter) killed by BRK",
                    "env 3 (faulter) killed by system register access",
                    "hello: done",
                    "env 4 (hello) exited with status 0",
                    "(4 did not exit with status 0)",
                ])
            },
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 upcalls",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["upcalls", "hello"],
            expect: environments_pass(&[
                "upcalls 0: foreign call answered Ok(1007)",
                "upcalls 0: demand-paged 4 pages, sum 10",
                "upcalls 0: 1 emulated, 4 page faults, 1 skipped, 3 slice ends",
                "env 0 (upcalls) exited with status 0",
                "env 1 (hello) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 user-level threads (timer preemption)",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["threads"],
            expect: environments_pass(&[
                "threads 0: 3 threads finished, counts [",
                "switches in the slice-end upcall",
                "env 0 (threads) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 hostile environment",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["hostile", "hello"],
            expect: environments_pass(&[
                "hostile: 20000 calls done",
                "kernel still answering",
                "hello: done",
                "env 0 (hostile) exited with status 0",
                "env 1 (hello) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 environments created from user mode",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["spawner"],
            expect: environments_pass(&[
                "spawner 0: created env 1 from a 162-byte image",
                "child says hi",
                "spawner: back after donating to env 1",
                "spawner: env 1 ended with status 42",
                "spawner: destroyed suspended env",
                "spawner: done",
                "env 1 (child) exited with status 42",
                "env 0 (spawner) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 library OS on bare metal",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["libosdemo"],
            expect: environments_pass(&[
                "libosdemo: /tmp/link says: an exokernel libOS on bare metal",
                "libosdemo: /dev/urandom gave",
                "libosdemo: /proc/self/status: Name:\tinit | Umask:\t0022 | State:\tR (running)",
                "libosdemo: 5 mounts",
                "libosdemo: /proc/bootlog (",
                "bytes) has the kernel's marker: true",
                "libosdemo: pipe carried 'through a pipe'",
                "libosdemo: exec'd /bin/answer as pid 2 in environment 1",
                "libosdemo: child ended with Exited(42), wait status 0x2a00, reaped true",
                "libosdemo: done",
                "env 1 (child) exited with status 42",
                "env 0 (libosdemo) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 user-mode PL031 RTC driver (IRQ + MMIO)",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["rtcdrv irq=2 mmio=0x9010000+0x1000", "hello"],
            expect: environments_pass(&[
                "env 0: granted IRQ line 2",
                "env 0: granted MMIO 0x9010000+0x1000",
                "rtcdrv 0: PL031 at 0x9010000, ",
                "match interrupt on line 2",
                "rtcdrv: interrupt 1 on line 2 at second",
                "rtcdrv: interrupt 2 on line 2 at second",
                "rtcdrv: 1 interrupt arrived as an upcall while computing",
                "rtcdrv: done",
                "env 0 (rtcdrv) exited with status 0",
                "env 1 (hello) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 BPF JIT at EL0 (W^X code pages)",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["bpfjit"],
            expect: environments_pass(&[
                "bpfjit 0: loop: interpreter Ok(49995000), JIT Ok(49995000)",
                "bpfjit 0: map counter: interpreter Ok(1000), JIT Ok(2000)",
                "agree: 200 runs in",
                "bpfjit: done",
                "env 0 (bpfjit) exited with status 0",
            ]),
            timeout,
        },
        Aarch64Scenario {
            name: "aarch64 Linux, FreeBSD, illumos and cross-personality suites on the exokernel",
            cmdline: "exit",
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["linuxsuite", "bsdsuite", "illumossuite", "crosssuite"],
            expect: Expect {
                absent: lines(&["!!! EXCEPTION", "!!! KERNEL PANIC", "... FAILED"]),
                ..environments_pass(&[
                    "linux: open_read_write_close ... ok",
                    "passed, 0 failed",
                    "env 0 (linuxsuite) exited with status 0",
                    "freebsd: open_read_write_close ... ok",
                    "env 1 (bsdsuite) exited with status 0",
                    "illumos: open_read_write_close ... ok",
                    "env 2 (illumossuite) exited with status 0",
                    "cross: delegated_file_reads_through_the_receivers_abi ... ok",
                    "env 3 (crosssuite) exited with status 0",
                    "(0 did not exit with status 0)",
                ])
            },
            timeout,
        },
    ]
}

/// A boot without UEFI: the raw arm64 `Image` started by QEMU itself
/// (`-kernel`, `-dtb`, `-append`), as the Raspberry Pi firmware starts
/// `kernel8.img`.
#[derive(Clone, Debug)]
pub struct DirectScenario {
    /// Short name, printed in results.
    pub name: &'static str,
    /// Kernel command line (`/chosen/bootargs`), without
    /// [`SEMIHOSTING_OPTION`].
    pub cmdline: &'static str,
    /// The `-machine` argument.
    pub machine: &'static str,
    /// The board's device tree, a file name in Debian's kernel packages.
    pub dtb: &'static str,
    /// The `-serial` index the tree's `stdout-path` UART is wired to.
    pub console_serial: usize,
    /// Requirements.
    pub expect: Expect,
    /// Hard limit on the run.
    pub timeout: Duration,
}

impl DirectScenario {
    /// The command line passed with `-append`.
    pub fn command_line(&self) -> String {
        format!("{} {SEMIHOSTING_OPTION}", self.cmdline)
            .trim()
            .to_string()
    }

    /// How to start QEMU for it.
    pub fn machine(&self, kernel: PathBuf, dtb: PathBuf) -> DirectMachine {
        DirectMachine {
            kernel,
            dtb,
            machine: self.machine.to_string(),
            append: self.command_line(),
            console_serial: self.console_serial,
            interactive: false,
        }
    }
}

/// The direct (non-UEFI) boots: QEMU's Raspberry Pi 4B, whose UART and
/// GIC-400 are those of the Pi family, with the Pi 4's real device tree.
/// Its `stdout-path` is the mini UART (`serial1`), QEMU's second serial
/// port; the tree has no PSCI (the Pi 4 parks secondary cores on a spin
/// table), so every exit goes through semihosting.
pub fn direct_scenarios() -> Vec<DirectScenario> {
    let rpi4 = |extra: &[&str]| {
        let mut required = lines(&[
            BOOT_MARKER,
            "raw image started at EL2",
            "Raspberry Pi 4 (matched 'brcm,bcm2711')",
            "console /soc/serial@7e215040 attached",
            "memory reserved by the device tree: 0x0..0x1000",
            "running at EL1 (entered at EL2, dropped to EL1)",
            "GIC: v2 set up",
            "generic timer: CNTFRQ_EL0",
        ]);
        required.extend(lines(extra));
        required
    };
    vec![
        DirectScenario {
            name: "aarch64 raspi4b: raw Image, self-tests",
            cmdline: "test",
            machine: "raspi4b",
            dtb: "bcm2711-rpi-4-b.dtb",
            console_serial: 1,
            expect: Expect {
                status: POWER_OFF_STATUS,
                lines: rpi4(&["self-tests:", " 0 failed"]),
                absent: lines(&["!!! EXCEPTION", "!!! KERNEL PANIC", "FAILED"]),
            },
            timeout: Duration::from_secs(60),
        },
        DirectScenario {
            name: "aarch64 raspi4b: raw Image, panic dump",
            cmdline: "crash=panic",
            machine: "raspi4b",
            dtb: "bcm2711-rpi-4-b.dtb",
            console_serial: 1,
            expect: Expect {
                status: ExitCode::Panic.qemu_status(),
                lines: rpi4(&[
                    "!!! KERNEL PANIC at boot/aarch64/src/main.rs",
                    "      #2  0x",
                    "!!! kernel halted: panic",
                ]),
                absent: lines(&["self-tests:"]),
            },
            timeout: Duration::from_secs(60),
        },
        DirectScenario {
            name: "aarch64 raspi4b: raw Image, data abort dump",
            cmdline: "crash=pagefault",
            machine: "raspi4b",
            dtb: "bcm2711-rpi-4-b.dtb",
            console_serial: 1,
            expect: Expect {
                status: ExitCode::Panic.qemu_status(),
                lines: rpi4(&[
                    "!!! EXCEPTION: synchronous from EL1 at ELR",
                    "ESR 0x96000044 (data abort), FAR 0x8000001000",
                    "x0 =0x0000008000001000 x1 =0x0000000000005a5a",
                    "      #1  0x",
                    "!!! kernel halted: unrecoverable exception",
                ]),
                absent: lines(&["self-tests:"]),
            },
            timeout: Duration::from_secs(60),
        },
    ]
}

/// A run of environments that all end with status 0, after which the
/// kernel powers off.
fn environments_pass(extra: &[&str]) -> Expect {
    let mut required = lines(&[BOOT_MARKER, "all environments have ended"]);
    required.extend(lines(extra));
    Expect {
        status: POWER_OFF_STATUS,
        lines: required,
        absent: crash_lines(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_pass_semihosting_and_have_unique_names() {
        let all = aarch64_scenarios();
        for s in &all {
            assert!(s.command_line().ends_with(SEMIHOSTING_OPTION), "{}", s.name);
            assert!(s.machine.contains("acpi=off"), "{}", s.name);
            assert!(s.name.starts_with("aarch64 "), "{}", s.name);
            assert!(s.machine(PathBuf::from("x.img")).semihosting);
        }
        let direct = direct_scenarios();
        for s in &direct {
            assert!(s.command_line().ends_with(SEMIHOSTING_OPTION), "{}", s.name);
            assert!(s.name.starts_with("aarch64 "), "{}", s.name);
            let joined = format!(
                "{:?}",
                s.machine(PathBuf::from("k.img"), PathBuf::from("b.dtb"))
                    .command()
            );
            assert!(joined.contains("\"-dtb\" \"b.dtb\""), "{joined}");
            assert!(joined.contains("semihosting"), "{joined}");
        }
        let mut names: Vec<_> = all
            .iter()
            .map(|s| s.name)
            .chain(direct.iter().map(|s| s.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len() + direct.len());
    }
}
