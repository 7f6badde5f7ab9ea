//! Shared pieces of the hosted examples: booting a libOS on an in-process
//! exokernel with facts about this host.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use exo_hosted::{Config, HostedEnv, Machine};
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::system::{Options, System};

/// Facts about the host machine, read from its own `/proc` where it has
/// one (the hosted libOS reports the machine it really runs on).
#[derive(Debug)]
pub struct HostInfo {
    machine: Machine,
}

fn host_file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl SystemInfo for HostInfo {
    fn meminfo(&self) -> MemInfo {
        let field = |name: &str| {
            host_file("/proc/meminfo")
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0)
        };
        MemInfo {
            total_kib: field("MemTotal:"),
            free_kib: field("MemFree:"),
            available_kib: field("MemAvailable:"),
        }
    }

    fn cpus(&self) -> Vec<CpuInfo> {
        let text = host_file("/proc/cpuinfo");
        let mut cpus = Vec::new();
        for block in text.split("\n\n").filter(|b| b.contains("processor")) {
            let get = |k: &str| {
                block
                    .lines()
                    .find(|l| l.starts_with(k))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            };
            cpus.push(CpuInfo {
                vendor: get("vendor_id"),
                model: get("model name"),
                mhz: get("cpu MHz")
                    .split('.')
                    .next()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0),
                flags: get("flags")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            });
        }
        cpus
    }

    fn bootlog(&self) -> Vec<u8> {
        self.machine.console()
    }

    fn version(&self) -> String {
        format!(
            "exo libOS {} (hosted on {})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS
        )
    }

    fn uptime_ns(&self) -> u64 {
        self.machine.uptime_ns()
    }
}

/// A machine, one environment on it, and a libOS booted in it.
pub fn boot(name: &str) -> (Machine, Arc<HostedEnv>, System) {
    let machine = Machine::new(Config::default());
    let env = Arc::new(
        machine
            .spawn(name)
            .expect("a fresh machine has room for an environment"),
    );
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
    let info = Arc::new(HostInfo {
        machine: machine.clone(),
    });
    let system = System::boot(
        Arc::clone(&env),
        info,
        Options {
            boot_epoch_ns: epoch,
            ..Options::default()
        },
    )
    .expect("booting the libOS");
    (machine, env, system)
}
