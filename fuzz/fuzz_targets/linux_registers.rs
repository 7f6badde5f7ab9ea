//! Random register files and call sequences into the Linux personality's
//! register-level entry (`exo_linux::regs::syscall_as`), on both
//! architectures' register sets: signal handlers installed with fuzzed
//! flags and restorers, signals raised, `rt_sigreturn` over fuzzed frames
//! (stack pointers aimed at mapped, unmapped and misaligned memory with
//! random bytes there), `execve` of fuzzed files, thread `clone`s with
//! fuzzed flags, futex waits and wakes, thread exits. Nothing may panic; a
//! value returned in the result register after an ordinary call is a value
//! or an errno.
#![no_main]

#[path = "common/hosted.rs"]
mod hosted;

use exo_linux::{A64Regs, Arch, Flow, Regs};
use exo_personality::{Ctx, UserMemory, VecMemory};
use libfuzzer_sys::fuzz_target;
use libos::process::INIT;
use libos::system::System;
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;

const MEM: u64 = 0x10_0000;
const LEN: u64 = 0x2_0000;

/// A register-level call on architecture `A`: `pick` chooses the call,
/// `c` its operands.
fn one<A: Arch + Load>(
    sys: &System,
    pid: u32,
    tids: &mut Vec<u32>,
    mem: &mut VecMemory,
    regs: &mut A,
    pick: u8,
    c: &[u8; 16],
) -> bool {
    let nr = A::NR;
    let word = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or([0; 8]));
    let addr = |b: u8| match b % 5 {
        0 => MEM + u64::from(b) * 64,
        1 => MEM + LEN - u64::from(b),
        2 => 0xdead_0000,
        3 => MEM + u64::from(b) * 64 + 4,
        _ => u64::from(b),
    };
    // The call and its operands from the bytes; the registers carry over
    // from the previous call (a handler's frame, a sigreturn, an exec).
    let (number, args): (u64, [u64; 6]) = match pick % 9 {
        0 => {
            // rt_sigaction with a fuzzed act (handler, flags, restorer, mask).
            let act = MEM + 0x100;
            let mut a = Vec::new();
            for v in [word(0), word(8) & 0xfc00_00ff, word(4), word(6)] {
                a.extend_from_slice(&v.to_le_bytes());
            }
            let _ = mem.write(act, &a);
            let n = if A::MACHINE == 62 { 13 } else { 134 };
            (n, [u64::from(c[15] % 65), act, 0, 8, 0, 0])
        }
        1 => {
            let n = if A::MACHINE == 62 { 62 } else { 129 };
            (n, [u64::from(pid), u64::from(c[15] % 32), 0, 0, 0, 0])
        }
        2 => {
            // rt_sigreturn over random bytes at a fuzzed stack pointer.
            let at = addr(c[14]);
            let mut junk = vec![0u8; 600];
            for (i, b) in junk.iter_mut().enumerate() {
                *b = c[i % 16].wrapping_mul(i as u8 | 1);
            }
            let _ = mem.write(at.min(MEM + LEN - 600), &junk);
            regs.set_sp(at);
            (nr.rt_sigreturn, [0; 6])
        }
        3 => {
            // execve of a file made of the bytes (or of a real path).
            let f = sys.vfs.open(
                &Cred::root(),
                sys.vfs.root(),
                b"/tmp/fuzz-exe",
                OpenFlags {
                    create: true,
                    trunc: true,
                    ..OpenFlags::WRITE
                },
                0o755,
            );
            if let Ok(f) = f {
                let _ = f.write(c);
            }
            let _ = mem.write(MEM + 0x200, b"/tmp/fuzz-exe\0");
            (nr.execve, [MEM + 0x200, addr(c[1]), addr(c[2]), 0, 0, 0])
        }
        4 => (
            nr.clone,
            [
                word(0) | 0x1_0f00,
                addr(c[9]),
                addr(c[10]),
                addr(c[11]),
                addr(c[12]),
                0,
            ],
        ),
        5 => (
            nr.futex,
            [
                addr(c[1]) & !3,
                u64::from(c[2] % 11) | 128,
                u64::from(c[3]),
                0,
                0,
                u64::MAX,
            ],
        ),
        6 => (nr.exit, [u64::from(c[1]), 0, 0, 0, 0, 0]),
        7 => (nr.gettid, [0; 6]),
        _ => (nr.set_tid_address, [addr(c[1]), 0, 0, 0, 0, 0]),
    };
    let tid = tids[usize::from(c[13]) % tids.len()];
    let mut r = regs.clone();
    r.load(number, args);
    let mut ctx = Ctx { sys, pid, mem };
    let flow = exo_linux::regs::syscall_as(&mut ctx, tid, &mut r);
    // After an ordinary call (not sigreturn or execve, which load whole
    // register files), the result is a value or one of Linux's errnos.
    if matches!(flow, Flow::Resume) && !matches!(pick % 9, 2 | 3) {
        let v = r.result() as i64;
        assert!(v >= -4095, "result {v} is neither a value nor an errno");
        if v < 0 {
            assert!(
                libos::Errno::ALL.iter().any(|e| -i64::from(e.linux()) == v),
                "unknown errno {v}"
            );
        }
    }
    *regs = r;
    match flow {
        Flow::Exit(_) => false,
        Flow::Spawn(t) => {
            tids.push(t.tid);
            true
        }
        Flow::ThreadExit => {
            tids.retain(|&t| t != tid);
            !tids.is_empty()
        }
        Flow::Park(p) => {
            p.cancel();
            true
        }
        Flow::Resume | Flow::Stopped(_) | Flow::Execed => true,
    }
}

/// Puts a call's number and arguments where the architecture's Linux
/// ABI has them.
trait Load {
    fn load(&mut self, number: u64, args: [u64; 6]);
}

impl Load for Regs {
    fn load(&mut self, number: u64, args: [u64; 6]) {
        self.rax = number;
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9] = args;
    }
}

impl Load for A64Regs {
    fn load(&mut self, number: u64, args: [u64; 6]) {
        self.x[8] = number;
        self.x[..6].copy_from_slice(&args);
    }
}

fuzz_target!(|data: &[u8]| {
    let sys = hosted::system();
    let Ok(pid) = sys.procs.fork(INIT) else {
        return;
    };
    let mut mem = VecMemory::new();
    mem.map(MEM, LEN as usize);
    let mut tids = vec![pid];
    let mut x86 = Regs::start(0x40_1000, MEM + LEN - 0x100);
    let mut arm = A64Regs::start(0x40_1000, MEM + LEN - 0x100);
    for chunk in data.chunks(17).take(24) {
        let mut c = [0u8; 16];
        let pick = chunk[0];
        let rest = &chunk[1..];
        c[..rest.len()].copy_from_slice(rest);
        let alive = if pick & 0x80 == 0 {
            one(sys, pid, &mut tids, &mut mem, &mut x86, pick, &c)
        } else {
            one(sys, pid, &mut tids, &mut mem, &mut arm, pick, &c)
        };
        if !alive {
            break;
        }
    }
    // Reap it, so the process table does not fill up.
    let _ = sys.procs.exit(pid, libos::process::ExitStatus::Exited(0));
    let _ = sys
        .procs
        .wait(INIT, libos::process::WaitFor::Pid(pid), true);
});
