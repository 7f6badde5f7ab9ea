//! Shared harness of the personality suites: a machine with a libOS, a
//! process, its memory, and a tiny test runner that prints one summary
//! line per personality (`linux: N passed, N failed`).
//!
//! The machine is the hosted model (`exo-hosted`) under `cargo test`, or,
//! built for a bare-metal target, the exokernel itself: the suite programs
//! in `tests/user` run the same cases as environments in QEMU, the libOS
//! reaching the real kernel through `exo_sys::BareMetal`. Cases that need
//! host threads (a second caller blocking while the first wakes it) run
//! hosted only.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

#[cfg(not(target_os = "none"))]
use exo_hosted::{Config, Machine};
use exo_personality::{Ctx, VecMemory};
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::mm::{Area, Prot};
use libos::process::{INIT, Pid};
use libos::system::{Options, System};

/// Where the test process's scratch memory starts.
pub const MEM: u64 = 0x10_0000;
/// Its size.
pub const MEM_LEN: usize = 1 << 20;

struct Info;

impl SystemInfo for Info {
    fn meminfo(&self) -> MemInfo {
        MemInfo {
            total_kib: 65536,
            free_kib: 32768,
            available_kib: 32768,
        }
    }
    fn cpus(&self) -> Vec<CpuInfo> {
        Vec::new()
    }
    fn bootlog(&self) -> Vec<u8> {
        Vec::new()
    }
    fn version(&self) -> String {
        "exo test".into()
    }
    fn uptime_ns(&self) -> u64 {
        0
    }
}

/// A process under a personality, with helpers to place arguments in its
/// memory.
pub struct World {
    /// Keeps the machine alive.
    #[cfg(not(target_os = "none"))]
    pub machine: Machine,
    /// The libOS.
    pub sys: System,
    /// The process.
    pub pid: Pid,
    /// Its memory.
    pub mem: VecMemory,
    next: u64,
}

impl World {
    /// A fresh machine, libOS and child process.
    #[must_use]
    pub fn new() -> Self {
        #[cfg(not(target_os = "none"))]
        let machine = Machine::new(Config::default());
        #[cfg(not(target_os = "none"))]
        let sys = {
            let env = Arc::new(machine.spawn("personality").expect("environment"));
            System::boot(env, Arc::new(Info), Options::default()).expect("libOS")
        };
        #[cfg(target_os = "none")]
        let sys = System::boot(
            Arc::new(exo_sys::BareMetal),
            Arc::new(Info),
            Options::default(),
        )
        .expect("libOS");
        let pid = sys.procs.fork(INIT).expect("fork");
        let mut mem = VecMemory::new();
        mem.map(MEM, MEM_LEN);
        // The scratch memory is an ordinary mapping of the process.
        sys.procs
            .with(pid, |p| {
                p.mm.insert(Area::anonymous(MEM, MEM + MEM_LEN as u64, Prot::RW))
            })
            .expect("process");
        Self {
            #[cfg(not(target_os = "none"))]
            machine,
            sys,
            pid,
            mem,
            next: MEM,
        }
    }

    /// Copies `bytes` into the process's memory; returns the address.
    pub fn put(&mut self, bytes: &[u8]) -> u64 {
        use exo_personality::UserMemory;
        let at = self.next;
        self.mem.write(at, bytes).expect("scratch memory");
        self.next = (at + bytes.len() as u64 + 16).next_multiple_of(16);
        at
    }

    /// A NUL-terminated copy of `s`.
    pub fn cstr(&mut self, s: &str) -> u64 {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(&b)
    }

    /// `len` zero bytes for output.
    pub fn buf(&mut self, len: usize) -> u64 {
        self.put(&vec![0u8; len])
    }

    /// Reads back memory.
    #[must_use]
    pub fn get(&self, at: u64, len: usize) -> Vec<u8> {
        use exo_personality::UserMemory;
        let mut b = vec![0u8; len];
        self.mem.read(at, &mut b).expect("scratch memory");
        b
    }

    /// A handler context.
    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            sys: &self.sys,
            pid: self.pid,
            mem: &mut self.mem,
        }
    }
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
pub use alloc::format;

pub use core::time::Duration;
/// A monotonic clock reading, for cases that check how long a call waited.
#[cfg(not(target_os = "none"))]
pub use std::time::Instant;

/// A monotonic clock reading (the exokernel's clock), for cases that check
/// how long a call waited.
#[cfg(target_os = "none")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(u64);

#[cfg(target_os = "none")]
impl Instant {
    /// Now.
    #[must_use]
    pub fn now() -> Self {
        use exo_sys::Exo;
        Self(exo_sys::BareMetal.clock_ns())
    }

    /// Time since `self`.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(Self::now().0.saturating_sub(self.0))
    }
}

/// Waits `d` (a host sleep, or yielding the CPU until the kernel's clock
/// has moved on `d`).
pub fn sleep(d: Duration) {
    #[cfg(not(target_os = "none"))]
    std::thread::sleep(d);
    #[cfg(target_os = "none")]
    {
        let start = Instant::now();
        while start.elapsed() < d {
            exo_sys::yield_now();
        }
    }
}

/// Gives up the CPU once (the libOS's wait hook between polls).
pub fn yield_now() {
    #[cfg(not(target_os = "none"))]
    std::thread::yield_now();
    #[cfg(target_os = "none")]
    exo_sys::yield_now();
}

/// A named check.
pub type Case = (&'static str, fn() -> Result<(), String>);

/// Fails a case with a message.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::format!($($arg)*));
        }
    };
}

/// One output line: stdout hosted, the kernel console on bare metal.
macro_rules! say {
    ($($arg:tt)*) => {{
        #[cfg(not(target_os = "none"))]
        std::println!($($arg)*);
        #[cfg(target_os = "none")]
        exo_sys::println!($($arg)*);
    }};
}

/// Runs one case; a panic fails it (hosted; on bare metal a panic ends
/// the environment).
fn attempt(case: fn() -> Result<(), String>) -> Result<(), String> {
    #[cfg(not(target_os = "none"))]
    {
        std::panic::catch_unwind(case).unwrap_or_else(|_| Err("panicked".into()))
    }
    #[cfg(target_os = "none")]
    {
        case()
    }
}

/// Runs `cases`, prints each result and the summary line; returns how
/// many failed.
pub fn run(personality: &str, cases: &[Case]) -> usize {
    let mut failed = 0;
    for (name, case) in cases {
        match attempt(*case) {
            Ok(()) => say!("{personality}: {name} ... ok"),
            Err(why) => {
                failed += 1;
                say!("{personality}: {name} ... FAILED: {why}");
            }
        }
    }
    say!(
        "{personality}: {} passed, {failed} failed",
        cases.len() - failed
    );
    failed
}

/// [`run`] as a test binary's `main`: exits non-zero if any case failed.
#[cfg(not(target_os = "none"))]
pub fn run_and_exit(personality: &str, cases: &[Case]) {
    if run(personality, cases) > 0 {
        std::process::exit(1);
    }
}
