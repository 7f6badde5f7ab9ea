//! Random illumos system calls (number and six arguments, pointers aimed at
//! mapped and unmapped memory) into the illumos personality over a hosted
//! libOS: every result must be a value with the carry flag clear or an
//! illumos errno with it set (and `rdx` 0); nothing panics. The process is
//! bound to an exo environment, so doors are created, queried, revoked and
//! called for real (a process calling its own door gets the kernel's
//! `EDEADLK`); only `door_return`, which waits for a caller that never
//! comes, is left out.
#![no_main]

#[path = "common/hosted.rs"]
mod hosted;

use std::sync::{Arc, OnceLock};

use exo_personality::{Ctx, UserMemory, VecMemory};
use libfuzzer_sys::fuzz_target;
use libos::process::{ExitStatus, INIT, WaitFor};
use libos::system::System;

const MEM: u64 = 0x10_0000;

struct Fixture {
    env: Arc<exo_hosted::HostedEnv>,
    sys: &'static System,
    /// Every errno number the personality can produce.
    errnos: Vec<u64>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let h = hosted::hosted();
        let errnos = libos::Errno::ALL
            .iter()
            .map(|&e| u64::from(exo_illumos::abi::errno(e)))
            .collect();
        Fixture {
            env: Arc::clone(&h.env),
            sys: &h.sys,
            errnos,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let sys = f.sys;
    let before = sys.procs.pids();
    // A fresh process each run, so descriptor tables do not fill up.
    let Ok(pid) = sys.procs.fork(INIT) else {
        return;
    };
    exo_illumos::attach(sys, pid, f.env.clone());
    let mut mem = VecMemory::new();
    mem.map(MEM, 4096);
    let _ = mem.write(MEM, b"/tmp/fuzz\0/proc/self/status\0/dev/null\0");
    // A well-formed door_arg_t at MEM + 0x200: 8 bytes of data at MEM, no
    // descriptors, a 64-byte result buffer at MEM + 0x300.
    let mut arg = [0u8; 48];
    arg[0..8].copy_from_slice(&MEM.to_le_bytes());
    arg[8..16].copy_from_slice(&8u64.to_le_bytes());
    arg[32..40].copy_from_slice(&(MEM + 0x300).to_le_bytes());
    arg[40..48].copy_from_slice(&64u64.to_le_bytes());
    let _ = mem.write(MEM + 0x200, &arg);
    for call in data.chunks(16).take(16) {
        let mut c = [0u8; 16];
        c[..call.len()].copy_from_slice(call);
        // Favour implemented numbers (0..=255) and plausible arguments.
        let number = u64::from(c[0]) + u64::from(c[1] & 1) * 256;
        let mut args: [u64; 6] = core::array::from_fn(|i| match c[2 + i] % 6 {
            0 => u64::from(c[8 + i % 8]),
            1 => MEM + u64::from(c[8 + i % 8]) * 8,
            2 => MEM + (u64::from(c[8 + i % 8]) % 3) * 10,
            // Near the top of the address space, but below the last page:
            // VecMemory's page walk (personalities/framework) overflows on
            // a range inside the last page — a framework bug, reported.
            3 => u64::MAX - 4096 - u64::from(c[8 + i % 8]),
            4 => 0xdead_0000,
            _ => u64::from(c[8 + i % 8]) << 8,
        });
        match number {
            // nanosleep with a fuzzed duration could sleep for ages, and a
            // blocking pipe whose only writer is the caller blocks forever
            // (as on illumos): fuzz non-blocking pipes only.
            199 => continue,
            42 => args[1] |= 0x80,
            // waitid for a forked child that never exits would wait forever.
            107 => args[3] |= 0x40,
            // door: small subcodes, never DOOR_RETURN (10), which waits.
            201 => {
                args[5] %= 13;
                if args[5] == 10 {
                    continue;
                }
                if c[15] & 1 != 0 {
                    args[0] = u64::from(c[14] % 8);
                    args[1] = MEM + 0x200;
                }
            }
            _ => {}
        }
        let mut ctx = Ctx {
            sys,
            pid,
            mem: &mut mem,
        };
        let r = exo_illumos::syscall(&mut ctx, number, args);
        if r.carry {
            assert!(f.errnos.contains(&r.rax), "unknown errno {}", r.rax);
            assert_eq!(r.rdx, 0, "rdx on failure");
        }
    }
    exo_illumos::door::detach(sys, pid);
    // End and reap the process and every process forkx made (they never
    // run; once the process is gone they are init's).
    let _ = sys.procs.exit(pid, ExitStatus::Exited(0));
    let _ = sys.procs.wait(INIT, WaitFor::Pid(pid), true);
    for p in sys.procs.pids() {
        if !before.contains(&p) {
            let _ = sys.procs.exit(p, ExitStatus::Exited(0));
            if let Ok(parent) = sys.procs.get(p).map(|x| x.ppid) {
                let _ = sys.procs.wait(parent, WaitFor::Pid(p), true);
            }
        }
    }
});
