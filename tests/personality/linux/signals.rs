//! Signal delivery and `rt_sigreturn` through the register-level entry
//! (`exo_linux::regs::syscall`): the x86_64 `rt_sigframe` bytes on the
//! program's stack, the handler's registers, and the way back.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use exo_linux::{Flow, Regs};
use exo_personality::UserMemory;
use exo_personality_tests::{MEM, MEM_LEN, World, check};
use libos::process::ExitStatus;
use libos::signal::Signal;

use super::{GETPID, KILL, RT_SIGACTION, RT_SIGPROCMASK, u64_at};

const SIGUSR1: u64 = 10;
const SIGTERM: u64 = 15;
const SA_SIGINFO: u64 = 0x4;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SIGALTSTACK: u64 = 131;
const RT_SIGRETURN: u64 = 15;
const SS_AUTODISARM: u32 = 1 << 31;
const HANDLER: u64 = 0x40_1000;
const RESTORER: u64 = 0x40_2000;

/// Interrupted registers with a recognisable value in each, the stack
/// at the top of the scratch memory.
fn interrupted() -> Regs {
    let mut r = Regs::start(0x40_0abc, MEM + MEM_LEN as u64 - 0x1000 - 8);
    r.set_words(core::array::from_fn(|i| 0x1111 * (i as u64 + 1)));
    r.rsp = MEM + MEM_LEN as u64 - 0x1000 - 8;
    r.rip = 0x40_0abc;
    r.rflags = 0x246;
    for (i, b) in r.fpu.iter_mut().enumerate() {
        *b = i as u8;
    }
    r
}

/// Runs the call in `regs` for the world's process.
fn call(w: &mut World, regs: &mut Regs, nr: u64, args: [u64; 6]) -> Flow {
    regs.rax = nr;
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
    let mut ctx = w.ctx();
    exo_linux::regs::syscall(&mut ctx, regs)
}

/// Installs a handler for `sig` with `flags` (the kernel `sigaction`).
fn install(w: &mut World, sig: u64, flags: u64) -> Result<(), String> {
    let mut act = Vec::new();
    for v in [HANDLER, flags, RESTORER, 0] {
        act.extend_from_slice(&v.to_le_bytes());
    }
    let act = w.put(&act);
    let r = super::sys(w, RT_SIGACTION, &[sig, act, 0, 8]);
    check!(r == 0, "rt_sigaction: {r}");
    Ok(())
}

fn mask_of(w: &World) -> Result<u64, String> {
    Ok(w.sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .mask
        .0)
}

pub fn handler_frame_and_sigreturn() -> Result<(), String> {
    let mut w = World::new();
    install(&mut w, SIGUSR1, SA_SIGINFO | SA_RESTORER | SA_RESTART)?;
    let pid = u64::from(w.pid);
    // The registers at the `syscall`: number and arguments in place.
    let mut before = interrupted();
    before.rax = KILL;
    [
        before.rdi, before.rsi, before.rdx, before.r10, before.r8, before.r9,
    ] = [pid, SIGUSR1, 0, 0, 0, 0];
    let mut regs = before.clone();
    let flow = call(&mut w, &mut regs, KILL, [pid, SIGUSR1, 0, 0, 0, 0]);
    check!(flow == Flow::Resume, "{flow:?}");
    // The handler's registers.
    check!(regs.rip == HANDLER, "rip = handler: {:#x}", regs.rip);
    check!(regs.rdi == SIGUSR1, "rdi = signo");
    let frame = regs.rsp;
    check!(
        (frame + 8).is_multiple_of(16),
        "rsp + 8 is 16-byte aligned: {frame:#x}"
    );
    check!(
        frame + 440 + 512 <= before.rsp - 128,
        "frame below the red zone"
    );
    check!(regs.rdx == frame + 8, "rdx = &ucontext");
    check!(regs.rsi == frame + 312, "rsi = &siginfo");
    check!(u64_at(&w, frame, 0) == RESTORER, "pretcode = sa_restorer");
    // siginfo_t.
    let info = w.get(frame + 312, 16);
    check!(info[0..4] == [10, 0, 0, 0], "si_signo");
    check!(info[8..12] == [0, 0, 0, 0], "si_code SI_USER");
    // ucontext_t: uc_flags, uc_stack (no alternate stack: SS_DISABLE),
    // uc_mcontext in sigcontext order, uc_sigmask.
    let uc = frame + 8;
    check!(u64_at(&w, uc, 0) == 6, "uc_flags");
    check!(
        w.get(uc + 24, 4) == [2, 0, 0, 0],
        "uc_stack.ss_flags SS_DISABLE"
    );
    let mut saved = before.words();
    saved[13] = 0; // rax: kill's result
    for (i, want) in saved.iter().enumerate() {
        let got = u64_at(&w, uc + 40 + 8 * i as u64, 0);
        check!(got == *want, "sigcontext word {i}: {got:#x} != {want:#x}");
    }
    check!(w.get(uc + 40 + 144, 2) == [0x33, 0], "cs");
    let fpstate = u64_at(&w, uc + 40 + 184, 0);
    check!(
        fpstate.is_multiple_of(64) && fpstate > frame,
        "fpstate above the frame"
    );
    check!(
        w.get(fpstate, 512) == before.fpu.to_vec(),
        "FXSAVE image saved"
    );
    check!(u64_at(&w, uc + 296, 0) == 0, "uc_sigmask: the mask before");
    check!(
        mask_of(&w)? == 1 << (SIGUSR1 - 1),
        "SIGUSR1 blocked while its handler runs"
    );
    // The handler clobbers registers and the FPU, then returns into the
    // restorer, whose `ret` popped pretcode.
    regs.set_words([0xdead; 18]);
    regs.rflags = 0x202; // what the CPU holds at its `syscall`
    regs.fpu = [0xee; 512];
    regs.rsp = frame + 8;
    let flow = call(&mut w, &mut regs, RT_SIGRETURN, [0; 6]);
    check!(flow == Flow::Resume, "{flow:?}");
    let mut want = before.clone();
    want.rax = 0;
    check!(regs == want, "every register and the FPU state are back");
    check!(mask_of(&w)? == 0, "mask restored");
    Ok(())
}

pub fn sigreturn_keeps_privileged_flags_and_checks_the_frame() -> Result<(), String> {
    let mut w = World::new();
    install(&mut w, SIGUSR1, SA_RESTORER)?;
    let mut regs = interrupted();
    let pid = u64::from(w.pid);
    call(&mut w, &mut regs, KILL, [pid, SIGUSR1, 0, 0, 0, 0]);
    let frame = regs.rsp;
    check!(regs.rsi == frame + 312, "siginfo even without SA_SIGINFO");
    // The handler edits the saved rflags: IOPL (bits 12-13) and IF do not
    // come back from a frame; DF and CF do.
    let uc = frame + 8;
    let flags_at = uc + 40 + 17 * 8;
    w.mem
        .write(flags_at, &(0x3000u64 | 0x400 | 0x1).to_le_bytes())
        .map_err(|e| e.to_string())?;
    regs.rsp = frame + 8;
    regs.rflags = 0x202;
    call(&mut w, &mut regs, RT_SIGRETURN, [0; 6]);
    check!(
        regs.rflags == 0x202 | 0x400 | 0x1,
        "rflags: {:#x}",
        regs.rflags
    );
    // A frame pointer off the program's memory: SIGSEGV, the process ends.
    let mut bad = interrupted();
    bad.rsp = 0xdead_0000;
    let flow = call(&mut w, &mut bad, RT_SIGRETURN, [0; 6]);
    check!(
        flow == Flow::Exit(ExitStatus::Signaled {
            signal: Signal::SIGSEGV,
            core: true
        }),
        "{flow:?}"
    );
    Ok(())
}

pub fn sigaction_reports_linux_flags_and_restorer() -> Result<(), String> {
    let mut w = World::new();
    install(&mut w, SIGUSR1, SA_SIGINFO | SA_RESTORER | SA_ONSTACK | 0x1)?;
    let old = w.buf(32);
    check!(
        super::sys(&mut w, RT_SIGACTION, &[SIGUSR1, 0, old, 8]) == 0,
        "query"
    );
    check!(u64_at(&w, old, 0) == HANDLER, "handler");
    check!(
        u64_at(&w, old, 8) == SA_SIGINFO | SA_RESTORER | SA_ONSTACK,
        "flags: {:#x} (SA_NOCLDSTOP means nothing for SIGUSR1 here)",
        u64_at(&w, old, 8)
    );
    check!(u64_at(&w, old, 16) == RESTORER, "sa_restorer");
    Ok(())
}

pub fn no_restorer_or_default_action_ends_the_process() -> Result<(), String> {
    let mut w = World::new();
    install(&mut w, SIGUSR1, SA_SIGINFO)?;
    let mut regs = interrupted();
    let pid = u64::from(w.pid);
    let flow = call(&mut w, &mut regs, KILL, [pid, SIGUSR1, 0, 0, 0, 0]);
    check!(
        matches!(
            flow,
            Flow::Exit(ExitStatus::Signaled {
                signal: Signal::SIGSEGV,
                ..
            })
        ),
        "x86_64 needs SA_RESTORER: {flow:?}"
    );
    // One world at a time (each holds 1 MiB of scratch memory).
    drop(w);
    let mut w = World::new();
    let mut regs = interrupted();
    let pid = u64::from(w.pid);
    let flow = call(&mut w, &mut regs, KILL, [pid, SIGTERM, 0, 0, 0, 0]);
    check!(
        flow == Flow::Exit(ExitStatus::Signaled {
            signal: Signal::SIGTERM,
            core: false
        }),
        "SIGTERM's default: {flow:?}"
    );
    drop(w);
    // A blocked signal waits; unblocking it (a system call) delivers it.
    let mut w = World::new();
    install(&mut w, SIGUSR1, SA_RESTORER)?;
    let set = w.put(&(1u64 << (SIGUSR1 - 1)).to_le_bytes());
    check!(
        super::sys(&mut w, RT_SIGPROCMASK, &[0, set, 0, 8]) == 0,
        "block"
    );
    let mut regs = interrupted();
    let pid = u64::from(w.pid);
    call(&mut w, &mut regs, KILL, [pid, SIGUSR1, 0, 0, 0, 0]);
    check!(regs.rip == 0x40_0abc, "blocked: no handler yet");
    call(&mut w, &mut regs, GETPID, [0; 6]);
    check!(regs.rip == 0x40_0abc, "still blocked");
    call(&mut w, &mut regs, RT_SIGPROCMASK, [1, set, 0, 8, 0, 0]);
    check!(regs.rip == HANDLER, "unblocked: delivered");
    Ok(())
}

pub fn alternate_stack_and_autodisarm() -> Result<(), String> {
    let mut w = World::new();
    install(&mut w, SIGUSR1, SA_RESTORER | SA_ONSTACK)?;
    let alt_base = MEM + 0x1_0000;
    let alt_size = 0x4000u64;
    let mut ss = Vec::new();
    ss.extend_from_slice(&alt_base.to_le_bytes());
    ss.extend_from_slice(&u64::from(SS_AUTODISARM).to_le_bytes());
    ss.extend_from_slice(&alt_size.to_le_bytes());
    let ss = w.put(&ss);
    check!(
        super::sys(&mut w, SIGALTSTACK, &[ss, 0]) == 0,
        "sigaltstack"
    );
    let mut regs = interrupted();
    let pid = u64::from(w.pid);
    call(&mut w, &mut regs, KILL, [pid, SIGUSR1, 0, 0, 0, 0]);
    let frame = regs.rsp;
    check!(
        frame > alt_base && frame < alt_base + alt_size,
        "the handler runs on the alternate stack: {frame:#x}"
    );
    let uc = frame + 8;
    check!(u64_at(&w, uc, 16) == alt_base, "uc_stack.ss_sp");
    check!(
        w.get(uc + 24, 4) == SS_AUTODISARM.to_le_bytes(),
        "uc_stack.ss_flags: armed, not on it, autodisarm"
    );
    check!(u64_at(&w, uc, 32) == alt_size, "uc_stack.ss_size");
    let armed = |w: &World| {
        w.sys
            .procs
            .get(w.pid)
            .map(|p| p.signals.altstack.is_some())
            .unwrap_or(false)
    };
    check!(!armed(&w), "SS_AUTODISARM: disarmed while the handler runs");
    regs.rsp = frame + 8;
    call(&mut w, &mut regs, RT_SIGRETURN, [0; 6]);
    check!(armed(&w), "rt_sigreturn re-arms it from uc_stack");
    check!(regs.rsp == interrupted().rsp, "back on the normal stack");
    Ok(())
}
