//! The x86_64 boot scenarios `cargo xtask test` runs, each a kernel command
//! line, a machine, and what the serial log and exit status must show.

use crate::{Expect, Firmware};
use hal::ExitCode;
use std::time::Duration;

/// The line every boot prints once the kernel is up.
pub const BOOT_MARKER: &str = "booted in";

/// The machine every scenario uses unless it needs another: a modern
/// chipset (PCIe, ACPI with MADT/HPET/MCFG).
pub const DEFAULT_MACHINE: &str = "q35";

/// The programs `cargo xtask bench` times kernel paths with: two `bench`
/// environments (null syscall; yield, which switches between them) and the
/// ping/pong IPC pair.
pub const KERNEL_PATH_BENCH: &[&str] = &["bench", "bench", "ping", "pong"];

/// The CPU model every scenario uses unless it needs another: every
/// feature TCG emulates (RDRAND, RDSEED, NX, …).
pub const DEFAULT_CPU: &str = "max";

/// One boot test.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name, printed in results.
    pub name: &'static str,
    /// Kernel command line GRUB passes.
    pub cmdline: String,
    /// Firmware.
    pub firmware: Firmware,
    /// The `-machine` argument.
    pub machine: &'static str,
    /// The `-cpu` argument.
    pub cpu: &'static str,
    /// User programs loaded as boot modules (environments 0, 1, … in order).
    pub modules: &'static [&'static str],
    /// Run under `-icount shift=0` (instruction-counted virtual time).
    pub icount: bool,
    /// Requirements.
    pub expect: Expect,
    /// Hard limit on the run.
    pub timeout: Duration,
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Lines no successful boot may print.
fn crash_lines() -> Vec<String> {
    lines(&["!!! EXCEPTION", "!!! KERNEL PANIC", "FAILED"])
}

/// Environments ran and the kernel left QEMU once they had all ended.
fn environments_pass(extra: &[&str]) -> Expect {
    let mut required = lines(&[BOOT_MARKER, "all environments have ended"]);
    required.extend(lines(extra));
    Expect {
        status: ExitCode::Success.qemu_status(),
        lines: required,
        absent: crash_lines(),
    }
}

fn self_test_pass(extra: &[&str]) -> Expect {
    let mut required = lines(&[BOOT_MARKER, "self-tests:", " 0 failed"]);
    required.extend(lines(extra));
    Expect {
        status: ExitCode::Success.qemu_status(),
        lines: required,
        absent: crash_lines(),
    }
}

/// `test` and then 105 unknown options of 97 bytes: 10,294 bytes in all,
/// more than the kernel keeps. (One 10 KB word would not do: GRUB's own
/// lexer rejects tokens that long.)
fn long_command_line() -> String {
    let mut line = String::from("test");
    for i in 0..105 {
        line.push_str(&format!(" opt{i:03}={}", "v".repeat(90)));
    }
    line
}

/// Every scenario, in the order they run.
pub fn all() -> Vec<Scenario> {
    let timeout = Duration::from_secs(90);
    vec![
        Scenario {
            name: "self-tests (BIOS)",
            cmdline: "test".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: self_test_pass(&[
                "MADT:",
                "local APIC timer",
                "capability key: seeded from RDSEED",
                "capability mint",
            ]),
            timeout,
        },
        Scenario {
            name: "self-tests (UEFI)",
            cmdline: "test".into(),
            firmware: Firmware::Uefi,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: self_test_pass(&["MADT:"]),
            timeout,
        },
        Scenario {
            name: "bogus command-line options",
            cmdline: "test frobnicate=1 log=loud timer_hz=0".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: self_test_pass(&[
                "unknown kernel option 'frobnicate=1'; ignored",
                "bad value 'loud' for kernel option 'log'; ignored",
                "bad value '0' for kernel option 'timer_hz'; ignored",
            ]),
            timeout,
        },
        Scenario {
            name: "10 KB command line",
            cmdline: long_command_line(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: self_test_pass(&[
                "unknown kernel option 'opt000=",
                "more kernel options ignored",
                "command line of 10294 bytes truncated to 4096",
            ]),
            timeout,
        },
        Scenario {
            name: "no ACPI",
            cmdline: "test".into(),
            firmware: Firmware::Bios,
            machine: "pc,acpi=off",
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: self_test_pass(&["no ACPI RSDP"]),
            timeout,
        },
        Scenario {
            name: "no hardware RNG",
            cmdline: "test".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            // QEMU's baseline 64-bit model has neither RDRAND nor RDSEED.
            cpu: "qemu64",
            modules: &[],
            icount: false,
            expect: self_test_pass(&[
                "capability key: no usable RDSEED/RDRAND; seeded from cycle-counter jitter only",
            ]),
            timeout,
        },
        Scenario {
            name: "environments: hello, ping/pong IPC",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["hello", "ping", "pong"],
            icount: false,
            expect: environments_pass(&[
                "hello from env 0",
                "hello: mapping unowned frames: Err(BadCapability), Err(BadCapability)",
                "hello: done",
                "pong: got a page from env 1 saying 'a secret from ping'",
                "pong: mapping it writable: Err(PermissionDenied)",
                "ping: 1000 IPC round trips",
                "pong: after revocation the page is gone",
                "ping: pong lost the page",
                "env 0 (hello) exited with status 0",
                "env 1 (ping) exited with status 0",
                "env 2 (pong) exited with status 0",
                "(0 did not exit with status 0)",
            ]),
            timeout,
        },
        Scenario {
            name: "hostile environment",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["hostile", "hello"],
            icount: false,
            expect: environments_pass(&[
                "hostile: 20000 calls done",
                "kernel still answering",
                "hello: done",
                "env 0 (hostile) exited with status 0",
                "env 1 (hello) exited with status 0",
            ]),
            timeout,
        },
        Scenario {
            name: "faulting environments",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["faulter", "faulter", "faulter", "faulter", "hello"],
            icount: false,
            expect: Expect {
                absent: lines(&["!!! EXCEPTION", "!!! KERNEL PANIC", "still alive"]),
                ..environments_pass(&[
                    "env 0 (faulter) killed by page fault at ip",
                    "(address 0x70000000)",
                    "env 1 (faulter) killed by invalid opcode",
                    "env 2 (faulter) killed by divide error",
                    "env 3 (faulter) killed by general protection fault",
                    "hello: done",
                    "env 4 (hello) exited with status 0",
                    "(4 did not exit with status 0)",
                ])
            },
            timeout,
        },
        Scenario {
            name: "upcalls",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["upcalls", "hello"],
            icount: false,
            expect: environments_pass(&[
                "upcalls 0: foreign call answered Ok(1007)",
                "upcalls 0: demand-paged 4 pages, sum 10",
                "upcalls 0: 1 emulated, 4 page faults, 1 skipped, 3 slice ends",
                "env 0 (upcalls) exited with status 0",
                "env 1 (hello) exited with status 0",
            ]),
            timeout,
        },
        Scenario {
            name: "user-mode HPET driver (IRQ + MMIO)",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["hpetdrv irq=16-23 mmio=0xfed00000+0x1000", "hello"],
            icount: false,
            expect: environments_pass(&[
                "env 0: granted IRQ lines 16-23",
                "env 0: granted MMIO 0xfed00000+0x1000",
                "hpetdrv 0: HPET at 0xfed00",
                "hpetdrv: interrupt 1 on line",
                "hpetdrv: interrupt 3 on line",
                "hpetdrv: 2 interrupts arrived as upcalls while computing",
                "hpetdrv: done",
                "env 0 (hpetdrv) exited with status 0",
            ]),
            timeout,
        },
        Scenario {
            name: "environments created from user mode",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["spawner"],
            icount: false,
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
        Scenario {
            name: "library OS on bare metal",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["libosdemo"],
            icount: false,
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
        Scenario {
            name: "BPF JIT in user mode (W^X code pages)",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["bpfjit"],
            icount: false,
            expect: environments_pass(&[
                "bpfjit 0: loop: interpreter Ok(49995000), JIT Ok(49995000)",
                "bpfjit 0: map counter: interpreter Ok(1000), JIT Ok(2000)",
                "agree: 200 runs in",
                "bpfjit: done",
                "env 0 (bpfjit) exited with status 0",
            ]),
            timeout,
        },
        Scenario {
            name: "Linux, FreeBSD, illumos and cross-personality suites on the exokernel",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["linuxsuite", "bsdsuite", "illumossuite", "crosssuite"],
            icount: false,
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
        Scenario {
            name: "user-level threads",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["threads"],
            icount: false,
            expect: environments_pass(&[
                "threads 0: 3 threads finished, counts [",
                "switches in the slice-end upcall",
                "env 0 (threads) exited with status 0",
            ]),
            timeout,
        },
        Scenario {
            name: "static Linux binary via the personality (malloc, mmap, checks, signals, threads, execve)",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &["linuxrun"],
            icount: false,
            expect: environments_pass(&[
                "linuxrun: starting a",
                "hello from Linux /bin/hello argc=1 on Linux x86_64, pid 2",
                // 2016 from 64 small blocks (brk), 32640 from a 1 MiB one.
                "malloc ok: checksum 34656",
                // Files, pipes, epoll, eventfd, sigaltstack, signals and a
                // handler's frame and sigreturn, time, getrandom, futexes,
                // /proc through the personality; four pthreads.
                "linux checks: 26 passed, 0 failed",
                // Then it execs itself; the second image exits 7.
                "linux exec: /bin/hello argc=3, same pid: yes",
                "env 0 (linuxrun) exited with status 7",
            ]),
            timeout,
        },
        Scenario {
            name: "kernel-path timing (icount)",
            cmdline: "exit".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: KERNEL_PATH_BENCH,
            icount: true,
            expect: environments_pass(&[
                "bench 0: null syscall",
                "bench 1: null syscall",
                "IPC round trips",
                "(0 did not exit with status 0)",
            ]),
            timeout,
        },
        Scenario {
            name: "page fault dump",
            cmdline: "crash=pagefault".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: Expect {
                status: ExitCode::Panic.qemu_status(),
                lines: lines(&[
                    BOOT_MARKER,
                    "!!! EXCEPTION 14 (page fault)",
                    "kernel write, page not present, address CR2=0x00004000dead0000",
                    "RIP=",
                    "RAX=",
                    "R15=",
                    "backtrace:",
                    "#1 ",
                    "kernel halted",
                ]),
                absent: vec![],
            },
            timeout,
        },
        Scenario {
            name: "kernel panic dump",
            cmdline: "crash=panic".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: Expect {
                status: ExitCode::Panic.qemu_status(),
                lines: lines(&[
                    BOOT_MARKER,
                    "!!! KERNEL PANIC at boot/x86_64/src/crash.rs",
                    "deliberate panic requested with crash=panic",
                    "backtrace:",
                    "#1 ",
                    "kernel halted: panic",
                ]),
                absent: vec![],
            },
            timeout,
        },
        Scenario {
            name: "invalid opcode dump",
            cmdline: "crash=ud".into(),
            firmware: Firmware::Bios,
            machine: DEFAULT_MACHINE,
            cpu: DEFAULT_CPU,
            modules: &[],
            icount: false,
            expect: Expect {
                status: ExitCode::Panic.qemu_status(),
                lines: lines(&["!!! EXCEPTION 6 (invalid opcode)", "RIP=", "backtrace:"]),
                absent: vec![],
            },
            timeout,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_command_line_is_over_ten_kilobytes() {
        assert_eq!(long_command_line().len(), 10_294);
    }

    #[test]
    fn scenario_names_are_unique_and_every_one_can_fail() {
        let all = all();
        for (i, s) in all.iter().enumerate() {
            assert!(
                all[..i].iter().all(|t| t.name != s.name),
                "duplicate {}",
                s.name
            );
            assert!(!s.expect.lines.is_empty(), "{} requires no line", s.name);
            assert_ne!(s.expect.status, 0, "{} accepts status 0", s.name);
        }
    }
}
