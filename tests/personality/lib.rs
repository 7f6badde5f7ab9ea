//! Shared harness of the personality suites: a hosted machine with a libOS,
//! a process, its memory, and a tiny test runner that prints one summary
//! line per personality (`linux: N passed, N failed`).

use std::sync::Arc;

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
        let machine = Machine::new(Config::default());
        let env = Arc::new(machine.spawn("personality").expect("environment"));
        let sys = System::boot(env, Arc::new(Info), Options::default()).expect("libOS");
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

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// A named check.
pub type Case = (&'static str, fn() -> Result<(), String>);

/// Fails a case with a message.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

/// Runs `cases`, prints each result and the summary line, and exits
/// non-zero if any failed.
pub fn run(personality: &str, cases: &[Case]) {
    let mut failed = 0;
    for (name, case) in cases {
        match std::panic::catch_unwind(case) {
            Ok(Ok(())) => println!("{personality}: {name} ... ok"),
            Ok(Err(why)) => {
                failed += 1;
                println!("{personality}: {name} ... FAILED: {why}");
            }
            Err(_) => {
                failed += 1;
                println!("{personality}: {name} ... FAILED: panicked");
            }
        }
    }
    println!(
        "{personality}: {} passed, {failed} failed",
        cases.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
