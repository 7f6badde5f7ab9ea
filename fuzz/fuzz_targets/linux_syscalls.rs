//! Random Linux system calls (number and six arguments, pointers aimed at
//! mapped and unmapped memory) into the Linux personality over a hosted
//! libOS: every result must be a value or a Linux errno; nothing panics.
#![no_main]

#[path = "common/hosted.rs"]
mod hosted;

use exo_personality::{Ctx, UserMemory, VecMemory};
use libfuzzer_sys::fuzz_target;
use libos::process::INIT;

const MEM: u64 = 0x10_0000;

fuzz_target!(|data: &[u8]| {
    let sys = hosted::system();
    // A fresh process each run, so descriptor tables do not fill up.
    let Ok(pid) = sys.procs.fork(INIT) else {
        return;
    };
    let mut mem = VecMemory::new();
    mem.map(MEM, 4096);
    let _ = mem.write(MEM, b"/tmp/fuzz\0/proc/self/status\0/dev/null\0");
    for call in data.chunks(16).take(16) {
        let mut c = [0u8; 16];
        c[..call.len()].copy_from_slice(call);
        // Favour implemented numbers (0..=320) and plausible arguments.
        let number = u64::from(c[0]) + u64::from(c[1] & 1) * 256;
        let args: [u64; 6] = core::array::from_fn(|i| match c[2 + i] % 6 {
            0 => u64::from(c[8 + i % 8]),
            1 => MEM + u64::from(c[8 + i % 8]) * 8,
            2 => MEM + (u64::from(c[8 + i % 8]) % 3) * 10,
            3 => u64::MAX - u64::from(c[8 + i % 8]),
            4 => 0xdead_0000,
            _ => u64::from(c[8 + i % 8]) << 8,
        });
        let mut args = args;
        // What would block for good here (as on Linux: nothing else runs
        // to end it) is made non-blocking or skipped: sleeps with fuzzed
        // durations, pipes and eventfds whose only other end is the
        // caller, a wait for children that never exit, epoll waits, and
        // futex waits on a word nobody wakes (given a zero timeout).
        match number {
            35 | 22 | 230 | 284 => continue,
            293 => args[1] |= 0o4000,
            290 => args[1] |= 0o4000,
            61 => args[2] |= 1,
            232 | 281 => args[3] = 0,
            202 if matches!(args[1] & 127, 0 | 9) => {
                let _ = mem.write(MEM + 4000, &[0; 16]);
                args[3] = MEM + 4000;
            }
            _ => {}
        }
        let mut ctx = Ctx {
            sys,
            pid,
            mem: &mut mem,
        };
        let r = exo_linux::syscall(&mut ctx, number, args);
        assert!(r >= -4095, "result {r} is neither a value nor an errno");
        if r < 0 {
            assert!(
                libos::Errno::ALL.iter().any(|e| -i64::from(e.linux()) == r),
                "unknown errno {r}"
            );
        }
    }
    let _ = sys.procs.exit(pid, libos::process::ExitStatus::Exited(0));
    let _ = sys
        .procs
        .wait(INIT, libos::process::WaitFor::Pid(pid), true);
});
