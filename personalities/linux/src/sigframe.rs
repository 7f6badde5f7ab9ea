//! Signal delivery to a Linux x86_64 program: the `rt_sigframe` on its
//! stack, and `rt_sigreturn` taking it back.
//!
//! The frame is the kernel's (`arch/x86/kernel/signal_64.c`), byte for
//! byte, so libc's restorer (`__restore_rt`: `mov $15, %eax; syscall`)
//! and handlers that read their `ucontext_t` work unchanged:
//!
//! ```text
//!  higher addresses
//!  +-----------------------------+ <- rsp - 128 (red zone), or the top of
//!  |                             |    the alternate stack (SA_ONSTACK)
//!  | FXSAVE image, 512 bytes     | <- 64-byte aligned; uc_mcontext.fpstate
//!  +-----------------------------+
//!  | siginfo_t, 128 bytes        | <- frame + 312 (rsi for SA_SIGINFO)
//!  | ucontext_t, 304 bytes       | <- frame + 8 (rdx)
//!  | pretcode = sa_restorer      | <- frame: the handler's rsp, so that
//!  +-----------------------------+    (rsp + 8) is 16-byte aligned
//! ```
//!
//! The sender of a signal is not recorded by the libOS, so `siginfo_t`
//! says `SI_USER` with pid and uid 0.

use libos::Errno;
use libos::process::{AltStack, Delivery, ExitStatus};
use libos::signal::{ActionFlags, SigSet, Signal};

use exo_personality::Ctx;

use crate::regs::{Flow, Regs, USER_RFLAGS};

/// `struct ucontext` offsets.
const UC: u64 = 8;
const UC_FLAGS: usize = 0;
const UC_STACK: usize = 16;
const UC_MCONTEXT: usize = 40;
const UC_SIGMASK: usize = 296;
const UC_LEN: usize = 304;
/// `struct sigcontext` offsets, inside `uc_mcontext`.
const SC_CS: usize = 144;
const SC_SS: usize = 150;
const SC_FPSTATE: usize = 184;
/// `siginfo_t`, after the ucontext.
const INFO: u64 = UC + UC_LEN as u64;
const INFO_LEN: usize = 128;
/// The whole frame below the FPU image.
const FRAME_LEN: u64 = INFO + INFO_LEN as u64;
/// `FXSAVE` image size.
const FPU_LEN: u64 = 512;
/// x86_64's red zone, which a handler must not overwrite.
const RED_ZONE: u64 = 128;
/// `uc_flags`: `UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS`.
const UC_SS_FLAGS: u64 = 0x2 | 0x4;
/// User code and stack selectors, as the frame reports them.
const USER_CS: u16 = 0x33;
const USER_SS: u16 = 0x2b;
/// `stack_t` flags.
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
/// `si_code` of a signal sent by `kill`/`raise`.
const SI_USER: i32 = 0;
/// Calls a handler never restarts, `SA_RESTART` or not (Linux's
/// `-ERESTARTNOHAND` and timed waits): poll, select, pause, nanosleep,
/// rt_sigsuspend, clock_nanosleep, epoll_wait, pselect6, ppoll,
/// epoll_pwait, epoll_pwait2.
const NEVER_RESTARTED: [u64; 11] = [7, 23, 34, 35, 130, 230, 232, 270, 271, 281, 441];

/// Ends the process by `SIGSEGV`, as Linux does when it cannot build or
/// read a signal frame.
pub(crate) fn force_sigsegv(ctx: &mut Ctx<'_>) -> Flow {
    let status = ExitStatus::Signaled {
        signal: Signal::SIGSEGV,
        core: true,
    };
    let _ = ctx.sys.procs.exit(ctx.pid, status);
    Flow::Exit(status)
}

/// After a system call (`interrupted`: its number, with its result in
/// `rax`) or at any other safe point (`None`): delivers the next pending,
/// unblocked signal. A caught one gets its frame and `regs` start the
/// handler; one whose action ends the process ends it.
pub(crate) fn deliver(ctx: &mut Ctx<'_>, regs: &mut Regs, interrupted: Option<u64>) -> Flow {
    match ctx.sys.procs.deliver(ctx.pid) {
        Ok(None) | Err(_) => Flow::Resume,
        Ok(Some(Delivery::Terminated(status))) => Flow::Exit(status),
        Ok(Some(Delivery::Stopped(sig))) => Flow::Stopped(sig),
        Ok(Some(Delivery::Handler {
            signal,
            entry,
            old_mask,
            flags,
            restorer,
        })) => {
            if let Some(number) = interrupted
                && regs.rax as i64 == -i64::from(Errno::EINTR.linux())
                && flags.contains(ActionFlags::RESTART)
                && !NEVER_RESTARTED.contains(&number)
            {
                // Back to the `syscall` instruction (2 bytes), number in rax:
                // the call runs again once the handler returns.
                regs.rax = number;
                regs.rip = regs.rip.wrapping_sub(2);
            }
            // x86_64 Linux requires a restorer: without one there is no
            // way back (the kernel forces SIGSEGV too).
            if !flags.contains(ActionFlags::RESTORER) {
                return force_sigsegv(ctx);
            }
            match setup(ctx, regs, signal, entry, old_mask, flags, restorer) {
                Ok(()) => Flow::Resume,
                Err(_) => force_sigsegv(ctx),
            }
        }
    }
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The `stack_t` words (`ss_sp`, `ss_flags`, `ss_size`) for `alt` as seen
/// from stack pointer `sp`.
fn stack_t(alt: Option<AltStack>, sp: u64) -> (u64, u32, u64) {
    match alt {
        None => (0, SS_DISABLE, 0),
        Some(s) => {
            let mut flags = if s.contains(sp) { SS_ONSTACK } else { 0 };
            if s.autodisarm {
                flags |= SS_AUTODISARM;
            }
            (s.base, flags, s.size)
        }
    }
}

/// Builds the frame and points `regs` at the handler.
fn setup(
    ctx: &mut Ctx<'_>,
    regs: &mut Regs,
    signal: Signal,
    entry: u64,
    old_mask: SigSet,
    flags: ActionFlags,
    restorer: u64,
) -> libos::Result<()> {
    let alt = ctx.sys.procs.with(ctx.pid, |p| p.signals.altstack)?;
    let mut sp = regs.rsp.wrapping_sub(RED_ZONE);
    let mut switched = false;
    if flags.contains(ActionFlags::ONSTACK)
        && let Some(s) = alt
        && !s.contains(regs.rsp)
    {
        sp = s.base.checked_add(s.size).ok_or(Errno::EFAULT)?;
        switched = true;
    }
    let fpstate = sp.checked_sub(FPU_LEN).ok_or(Errno::EFAULT)? & !63;
    let frame = (fpstate.checked_sub(FRAME_LEN).ok_or(Errno::EFAULT)? & !15) - 8;

    let mut uc = [0u8; UC_LEN];
    put_u64(&mut uc, UC_FLAGS, UC_SS_FLAGS);
    let (ss_sp, ss_flags, ss_size) = stack_t(alt, regs.rsp);
    put_u64(&mut uc, UC_STACK, ss_sp);
    uc[UC_STACK + 8..UC_STACK + 12].copy_from_slice(&ss_flags.to_le_bytes());
    put_u64(&mut uc, UC_STACK + 16, ss_size);
    for (i, w) in regs.words().iter().enumerate() {
        put_u64(&mut uc, UC_MCONTEXT + 8 * i, *w);
    }
    uc[UC_MCONTEXT + SC_CS..UC_MCONTEXT + SC_CS + 2].copy_from_slice(&USER_CS.to_le_bytes());
    uc[UC_MCONTEXT + SC_SS..UC_MCONTEXT + SC_SS + 2].copy_from_slice(&USER_SS.to_le_bytes());
    put_u64(&mut uc, UC_MCONTEXT + SC_FPSTATE, fpstate);
    put_u64(&mut uc, UC_SIGMASK, old_mask.0);

    let mut info = [0u8; INFO_LEN];
    info[0..4].copy_from_slice(&i32::from(signal.number()).to_le_bytes());
    info[8..12].copy_from_slice(&SI_USER.to_le_bytes());

    // Everything is written before anything in `regs` changes, so a
    // fault leaves the caller to force SIGSEGV on a consistent state.
    ctx.mem.write(fpstate, &regs.fpu)?;
    ctx.mem.write(frame + INFO, &info)?;
    ctx.mem.write(frame + UC, &uc)?;
    ctx.mem.write(frame, &restorer.to_le_bytes())?;

    if switched && alt.is_some_and(|s| s.autodisarm) {
        ctx.sys.procs.with(ctx.pid, |p| p.signals.altstack = None)?;
    }
    regs.rsp = frame;
    regs.rip = entry;
    regs.rdi = u64::from(signal.number());
    regs.rsi = frame + INFO;
    regs.rdx = frame + UC;
    regs.rax = 0;
    regs.clear_df_tf();
    Ok(())
}

/// `rt_sigreturn`: the handler has returned into its restorer, whose
/// `ret` popped `pretcode`, so `rsp` is the frame's `ucontext_t`.
/// Restores the registers, FPU state, signal mask and alternate stack it
/// holds; `rflags` only in the bits a program may set.
///
/// # Errors
/// `EFAULT` when the frame cannot be read (the caller forces SIGSEGV).
pub(crate) fn sigreturn(ctx: &mut Ctx<'_>, regs: &mut Regs) -> libos::Result<()> {
    let at = regs.rsp;
    let mut uc = [0u8; UC_LEN];
    ctx.mem.read(at, &mut uc)?;
    let mut words = [0u64; 18];
    for (i, w) in words.iter_mut().enumerate() {
        *w = get_u64(&uc, UC_MCONTEXT + 8 * i);
    }
    let mut next = regs.clone();
    next.set_words(words);
    next.rflags = (regs.rflags & !USER_RFLAGS) | (words[17] & USER_RFLAGS);
    let fpstate = get_u64(&uc, UC_MCONTEXT + SC_FPSTATE);
    if fpstate != 0 {
        if !fpstate.is_multiple_of(16) {
            return Err(Errno::EFAULT);
        }
        ctx.mem.read(fpstate, &mut next.fpu)?;
    }
    let mask = SigSet(get_u64(&uc, UC_SIGMASK));
    let ss_sp = get_u64(&uc, UC_STACK);
    let mut f = [0u8; 4];
    f.copy_from_slice(&uc[UC_STACK + 8..UC_STACK + 12]);
    let ss_flags = u32::from_le_bytes(f);
    let ss_size = get_u64(&uc, UC_STACK + 16);
    ctx.sys.procs.sigreturn(ctx.pid, mask)?;
    // The alternate stack as it was at delivery (re-arming one that
    // SS_AUTODISARM disarmed), unless the resumed code runs on it.
    ctx.sys.procs.with(ctx.pid, |p| {
        let on_it = p.signals.altstack.is_some_and(|s| s.contains(next.rsp));
        if !on_it {
            p.signals.altstack = (ss_flags & SS_DISABLE == 0 && ss_size != 0).then_some(AltStack {
                base: ss_sp,
                size: ss_size,
                autodisarm: ss_flags & SS_AUTODISARM != 0,
            });
        }
    })?;
    *regs = next;
    Ok(())
}
