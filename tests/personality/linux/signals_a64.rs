//! The register-level entry under aarch64 (`A64Regs`): the arm64
//! `rt_sigframe` bytes, `rt_sigreturn` (139) giving every register, the
//! SIMD state and the mask back, `clone` (220) with aarch64's argument
//! order making a thread, and `execve` (221) of an aarch64 executable.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use exo_linux::{A64Regs, Flow};
use exo_personality::UserMemory;
use exo_personality_tests::{MEM, MEM_LEN, World, check};

use super::{RT_SIGACTION, u32_at, u64_at};

const KILL: u64 = 129;
const RT_SIGRETURN: u64 = 139;
const CLONE: u64 = 220;
const EXECVE: u64 = 221;
const SIGUSR1: u64 = 10;
const SA_SIGINFO: u64 = 0x4;
const SA_RESTORER: u64 = 0x0400_0000;
const HANDLER: u64 = 0x40_1000;
const RESTORER: u64 = 0x40_2000;

fn call(w: &mut World, regs: &mut A64Regs, nr: u64, args: [u64; 6]) -> Flow<A64Regs> {
    regs.x[8] = nr;
    regs.x[..6].copy_from_slice(&args);
    let mut ctx = w.ctx();
    exo_linux::regs::syscall(&mut ctx, regs)
}

fn interrupted() -> A64Regs {
    let mut r = A64Regs::start(0x40_0abc, MEM + MEM_LEN as u64 - 0x1000);
    for (i, x) in r.x.iter_mut().enumerate() {
        *x = 0x1000 + i as u64;
    }
    for (i, v) in r.v.iter_mut().enumerate() {
        *v = u128::from(i as u64) << 64 | 0xf00d;
    }
    r.fpsr = 0x1f;
    r.fpcr = 0x0300_0000;
    r.pstate = 0x6000_0000;
    r
}

pub fn aarch64_signal_frame_and_sigreturn() -> Result<(), String> {
    let mut w = World::new();
    let mut act = Vec::new();
    for v in [HANDLER, SA_SIGINFO | SA_RESTORER, RESTORER, 0] {
        act.extend_from_slice(&v.to_le_bytes());
    }
    let act = w.put(&act);
    check!(
        super::sys(&mut w, RT_SIGACTION, &[SIGUSR1, act, 0, 8]) == 0,
        "rt_sigaction"
    );
    let pid = u64::from(w.pid);
    let mut before = interrupted();
    before.x[8] = KILL;
    before.x[..6].copy_from_slice(&[pid, SIGUSR1, 0, 0, 0, 0]);
    let mut regs = before.clone();
    let flow = call(&mut w, &mut regs, KILL, [pid, SIGUSR1, 0, 0, 0, 0]);
    check!(flow == Flow::Resume, "{flow:?}");
    let frame = regs.sp;
    check!(frame.is_multiple_of(16), "sp 16-byte aligned");
    check!(frame + 4704 <= before.sp, "below the interrupted sp");
    check!(regs.pc == HANDLER, "pc = handler");
    check!(
        regs.x[0] == SIGUSR1 && regs.x[1] == frame && regs.x[2] == frame + 128,
        "x0 signal, x1 siginfo, x2 ucontext"
    );
    check!(regs.x[30] == RESTORER, "x30 = sa_restorer");
    check!(regs.x[29] == frame + 4688, "x29 = the frame record");
    check!(
        u64_at(&w, frame + 4688, 0) == before.x[29] && u64_at(&w, frame + 4688, 8) == before.x[30],
        "frame record {{x29, x30}}"
    );
    check!(u32_at(&w, frame, 0) == 10, "si_signo");
    let uc = frame + 128;
    check!(u64_at(&w, uc, 40) == 0, "uc_sigmask");
    let mc = uc + 176;
    check!(u64_at(&w, mc, 8) == 0, "x0 saved: kill's result");
    check!(u64_at(&w, mc, 8 + 8 * 7) == 0x1007, "x7");
    check!(u64_at(&w, mc, 8 + 8 * 30) == 0x101e, "x30");
    check!(u64_at(&w, mc, 256) == before.sp, "sp");
    check!(u64_at(&w, mc, 264) == before.pc, "pc");
    check!(u64_at(&w, mc, 272) == 0x6000_0000, "pstate");
    let fp = mc + 288;
    check!(
        u32_at(&w, fp, 0) == 0x4650_8001 && u32_at(&w, fp, 4) == 528,
        "fpsimd_context header"
    );
    check!(
        u32_at(&w, fp, 8) == 0x1f && u32_at(&w, fp, 12) == 0x0300_0000,
        "fpsr, fpcr"
    );
    check!(u64_at(&w, fp, 16 + 16 * 7 + 8) == 7, "v7's high half");
    check!(u64_at(&w, fp, 528) == 0, "terminator");
    // The handler clobbers everything and returns into the restorer,
    // which calls rt_sigreturn with sp where the handler found it.
    regs.x = [0xdead; 31];
    regs.v = [0; 32];
    regs.fpsr = 0;
    regs.pstate = 0;
    regs.sp = frame;
    let flow = call(&mut w, &mut regs, RT_SIGRETURN, [0; 6]);
    check!(flow == Flow::Resume, "{flow:?}");
    let mut want = before.clone();
    want.x[0] = 0;
    check!(regs == want, "every register and the SIMD state are back");
    // A misaligned frame pointer is SIGSEGV.
    let mut bad = interrupted();
    bad.sp = frame + 8;
    let flow = call(&mut w, &mut bad, RT_SIGRETURN, [0; 6]);
    check!(matches!(flow, Flow::Exit(_)), "bad frame: {flow:?}");
    Ok(())
}

pub fn aarch64_clone_and_execve() -> Result<(), String> {
    let mut w = World::new();
    let pid = w.pid;
    let ptid = w.buf(4);
    let ctid = w.buf(4);
    // clone(flags, stack, parent_tid, tls, child_tid): musl's pthread set.
    let mut regs = A64Regs::start(0x40_1000, MEM + 0x1_0000);
    regs.x[8] = CLONE;
    regs.x[..6].copy_from_slice(&[0x7d_0f00, MEM + 0x8000, ptid, 0x7000_0000, ctid, 0]);
    let flow = {
        let mut ctx = w.ctx();
        exo_linux::regs::syscall_as(&mut ctx, pid, &mut regs)
    };
    let Flow::Spawn(t) = flow else {
        return Err(alloc::format!("clone: {flow:?}"));
    };
    check!(regs.x[0] == u64::from(t.tid), "x0 = the thread's id");
    check!(
        t.regs.x[0] == 0 && t.regs.sp == MEM + 0x8000,
        "the thread: x0 0, new sp"
    );
    check!(t.tls == Some(0x7000_0000), "tls is the fourth argument");
    check!(
        w.sys
            .procs
            .get(pid)
            .map(|p| p.thread_clear_tid.get(&t.tid) == Some(&ctid))
            .unwrap_or(false),
        "child_tid is the fifth"
    );
    // An aarch64 executable through execve (221).
    let mut elf = super::exec::tiny_elf();
    elf[18] = 183;
    super::exec::install(&w, b"/tmp/a64", &elf, 0o755)?;
    let path = w.cstr("/tmp/a64");
    let mut regs = A64Regs::start(0x1234, MEM + 0x8000);
    let flow = call(&mut w, &mut regs, EXECVE, [path, 0, 0, 0, 0, 0]);
    check!(flow == Flow::Resume, "{flow:?} x0 {}", regs.x[0] as i64);
    check!(
        regs.pc == 0x40_1000 && regs.sp.is_multiple_of(16),
        "entry and stack"
    );
    let mut argc = [0u8; 8];
    w.mem.read(regs.sp, &mut argc).map_err(|e| e.to_string())?;
    check!(argc == [0; 8], "argc 0 for a NULL argv");
    // The x86_64 executable is not this ABI's.
    drop(w);
    let mut w = World::new();
    let x86 = super::exec::tiny_elf();
    super::exec::install(&w, b"/tmp/x86", &x86, 0o755)?;
    let path = w.cstr("/tmp/x86");
    let mut regs = A64Regs::start(0x1234, MEM + 0x8000);
    call(&mut w, &mut regs, EXECVE, [path, 0, 0, 0, 0, 0]);
    check!(
        regs.x[0] as i64 == -8,
        "ENOEXEC for x86_64: {}",
        regs.x[0] as i64
    );
    Ok(())
}
