//! Random FreeBSD system calls (number and six arguments, pointers aimed
//! at mapped and unmapped memory) into the FreeBSD personality over a
//! hosted libOS: every result must be a value with the carry clear, or a
//! FreeBSD errno (1..=ELAST) with the carry set; nothing panics.
#![no_main]

#[path = "common/hosted.rs"]
mod hosted;

use std::collections::BTreeSet;

use exo_personality::{Ctx, UserMemory, VecMemory};
use libfuzzer_sys::fuzz_target;
use libos::process::{ExitStatus, INIT, WaitFor};

const MEM: u64 = 0x10_0000;

/// A zero `struct timespec`: `kevent` never waits.
const ZERO_TS: u64 = MEM + 4096 - 16;

fuzz_target!(|data: &[u8]| {
    let sys = hosted::system();
    let before: BTreeSet<u32> = sys.procs.pids().into_iter().collect();
    // A fresh process each run, so descriptor tables do not fill up.
    let Ok(pid) = sys.procs.fork(INIT) else {
        return;
    };
    let mut mem = VecMemory::new();
    mem.map(MEM, 4096);
    let _ = mem.write(
        MEM,
        b"/tmp/fuzz\0/proc/self/status\0/dev/null\0kern.ostype\0",
    );
    for call in data.chunks(16).take(16) {
        let mut c = [0u8; 16];
        c[..call.len()].copy_from_slice(call);
        // Favour implemented numbers (0..=600) and plausible arguments.
        let number = u64::from(c[0]) + u64::from(c[1] % 3) * 256;
        let mut args: [u64; 6] = core::array::from_fn(|i| match c[2 + i] % 6 {
            0 => u64::from(c[8 + i % 8]),
            1 => MEM + u64::from(c[8 + i % 8]) * 8,
            2 => MEM + (u64::from(c[8 + i % 8]) % 4) * 10,
            3 => u64::MAX - u64::from(c[8 + i % 8]),
            4 => 0xdead_0000,
            _ => u64::from(c[8 + i % 8]) << 8,
        });
        match number {
            // nanosleep with a fuzzed duration could sleep for ages.
            240 => continue,
            // Waits that could block forever (children never exit here,
            // and the caller is the only writer of its pipes and
            // sockets): WNOHANG, O_NONBLOCK, SOCK_NONBLOCK, zero
            // timeouts for kevent and poll.
            7 => args[2] |= 1,
            532 => args[3] |= 1,
            542 => args[1] |= 4,
            135 => args[1] |= 0x2000_0000,
            560 => args[5] = ZERO_TS,
            209 => args[2] = 0,
            // F_SETFL may not make a descriptor blocking again.
            92 if args[1] == 4 => args[2] |= 4,
            _ => {}
        }
        let mut ctx = Ctx {
            sys,
            pid,
            mem: &mut mem,
        };
        let r = exo_freebsd::syscall(&mut ctx, number, args);
        if r.carry {
            assert!(
                (1..=97).contains(&r.rax),
                "call {number}: errno {} outside 1..=ELAST",
                r.rax
            );
        }
    }
    // End every process this run made (forks, rforks), then the caller.
    let _ = sys.procs.exit(pid, ExitStatus::Exited(0));
    for p in sys.procs.pids() {
        if before.contains(&p) || p == pid {
            continue;
        }
        let ppid = sys.procs.get(p).map(|q| q.ppid).unwrap_or(INIT);
        let _ = sys.procs.exit(p, ExitStatus::Exited(0));
        let _ = sys.procs.wait(ppid, WaitFor::Pid(p), true);
    }
    let _ = sys.procs.wait(INIT, WaitFor::Pid(pid), true);
});
