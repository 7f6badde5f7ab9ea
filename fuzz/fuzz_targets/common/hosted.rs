//! The hosted machine the personality targets run on: the real exokernel
//! in-process, one environment, the libOS booted on it, once per fuzzing
//! process. (Each target uses what it needs of it.)
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::system::{Options, System};

struct Info;

impl SystemInfo for Info {
    fn meminfo(&self) -> MemInfo {
        MemInfo::default()
    }
    fn cpus(&self) -> Vec<CpuInfo> {
        Vec::new()
    }
    fn bootlog(&self) -> Vec<u8> {
        Vec::new()
    }
    fn version(&self) -> String {
        "fuzz".into()
    }
    fn uptime_ns(&self) -> u64 {
        0
    }
}

/// The machine, its environment and the libOS.
pub struct Hosted {
    /// Keeps the machine alive.
    _machine: exo_hosted::Machine,
    /// The environment the libOS runs in.
    pub env: Arc<exo_hosted::HostedEnv>,
    /// The libOS.
    pub sys: System,
}

/// The process's machine, booted on first use.
pub fn hosted() -> &'static Hosted {
    static H: OnceLock<Hosted> = OnceLock::new();
    H.get_or_init(|| {
        let machine = exo_hosted::Machine::new(exo_hosted::Config::default());
        let env = Arc::new(machine.spawn("fuzz").expect("env"));
        let sys = System::boot(env.clone(), Arc::new(Info), Options::default()).expect("libOS");
        Hosted {
            _machine: machine,
            env,
            sys,
        }
    })
}

/// Its libOS.
pub fn system() -> &'static System {
    &hosted().sys
}
