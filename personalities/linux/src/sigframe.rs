//! Signal delivery to a Linux program: which signal, which stack, whether
//! the interrupted call restarts (here, for every architecture), and the
//! x86_64 `rt_sigframe` on its stack with `rt_sigreturn` taking it back
//! (the aarch64 frame is in `regs_a64`).
//!
//! The x86_64 frame is the kernel's (`arch/x86/kernel/signal_64.c`), byte
//! for byte, so libc's restorer (`__restore_rt`: `mov $15, %eax; syscall`)
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
use libos::process::{AltStack, Delivery as Pending, ExitStatus};
use libos::signal::{ActionFlags, SigSet, Signal};

use exo_personality::Ctx;

use crate::arch::{Arch, Delivery, Restored};
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
pub(crate) const INFO_LEN: usize = 128;
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

/// Ends the process by `SIGSEGV`, as Linux does when it cannot build or
/// read a signal frame.
pub(crate) fn force_sigsegv<A: Arch>(ctx: &mut Ctx<'_>) -> Flow<A> {
    let status = ExitStatus::Signaled {
        signal: Signal::SIGSEGV,
        core: true,
    };
    let _ = ctx.sys.procs.exit(ctx.pid, status);
    Flow::Exit(status)
}

/// After a system call (`interrupted`: its number and arguments, with its
/// result in the result register) or at any other safe point (`None`):
/// delivers the next pending, unblocked signal. A caught one gets its
/// frame and the registers start the handler; one whose action ends the
/// process ends it.
pub(crate) fn deliver<A: Arch>(
    ctx: &mut Ctx<'_>,
    regs: &mut A,
    interrupted: Option<(u64, [u64; 6])>,
) -> Flow<A> {
    match ctx.sys.procs.deliver(ctx.pid) {
        Ok(None) | Err(_) => Flow::Resume,
        Ok(Some(Pending::Terminated(status))) => Flow::Exit(status),
        Ok(Some(Pending::Stopped(sig))) => Flow::Stopped(sig),
        Ok(Some(Pending::Handler {
            signal,
            entry,
            old_mask,
            flags,
            restorer,
        })) => {
            if let Some((number, args)) = interrupted
                && regs.result() as i64 == -i64::from(Errno::EINTR.linux())
                && flags.contains(ActionFlags::RESTART)
                && !A::NEVER_RESTARTED.contains(&number)
            {
                // Back to the system-call instruction: the call runs again
                // once the handler returns.
                regs.restart(number, args);
            }
            if A::needs_restorer() && !flags.contains(ActionFlags::RESTORER) {
                // No way back from the handler (the kernel forces SIGSEGV
                // too).
                return force_sigsegv(ctx);
            }
            match setup(ctx, regs, signal, entry, old_mask, flags, restorer) {
                Ok(()) => Flow::Resume,
                Err(_) => force_sigsegv(ctx),
            }
        }
    }
}

/// The `stack_t` words (`ss_sp`, `ss_flags`, `ss_size`) for `alt` as seen
/// from stack pointer `sp`.
pub(crate) fn stack_t(alt: Option<AltStack>, sp: u64) -> (u64, u32, u64) {
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

/// Picks the stack, has the architecture build the frame, and disarms an
/// `SS_AUTODISARM` alternate stack the handler now runs on.
fn setup<A: Arch>(
    ctx: &mut Ctx<'_>,
    regs: &mut A,
    signal: Signal,
    entry: u64,
    old_mask: SigSet,
    flags: ActionFlags,
    restorer: u64,
) -> libos::Result<()> {
    let alt = ctx.sys.procs.with(ctx.pid, |p| p.signals.altstack)?;
    let mut sp = regs.sp();
    let mut on_alt = false;
    if flags.contains(ActionFlags::ONSTACK)
        && let Some(s) = alt
        && !s.contains(regs.sp())
    {
        sp = s.base.checked_add(s.size).ok_or(Errno::EFAULT)?;
        on_alt = true;
    }
    let d = Delivery {
        signal,
        entry,
        old_mask,
        restorer,
        alt,
        on_alt,
    };
    regs.push_frame(ctx, sp, &d)?;
    if on_alt && alt.is_some_and(|s| s.autodisarm) {
        ctx.sys.procs.with(ctx.pid, |p| p.signals.altstack = None)?;
    }
    Ok(())
}

/// `rt_sigreturn`: the architecture reads the frame back into the
/// registers; then the mask and the alternate stack as they were at
/// delivery (re-arming one that `SS_AUTODISARM` disarmed), unless the
/// resumed code runs on it.
///
/// # Errors
/// `EFAULT` when the frame cannot be read (the caller forces SIGSEGV).
pub(crate) fn sigreturn<A: Arch>(ctx: &mut Ctx<'_>, regs: &mut A) -> libos::Result<()> {
    let mut next = regs.clone();
    let Restored {
        mask,
        stack: (ss_sp, ss_flags, ss_size),
    } = next.pop_frame(ctx)?;
    ctx.sys.procs.sigreturn(ctx.pid, mask)?;
    let sp = next.sp();
    ctx.sys.procs.with(ctx.pid, |p| {
        let on_it = p.signals.altstack.is_some_and(|s| s.contains(sp));
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

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The x86_64 `rt_sigframe` for `d`, below the red zone under `sp` (or
/// at `sp`, the alternate stack's top); the registers then start the
/// handler.
pub(crate) fn push_x86(
    regs: &mut Regs,
    ctx: &mut Ctx<'_>,
    sp: u64,
    d: &Delivery,
) -> libos::Result<()> {
    let sp = if d.on_alt {
        sp
    } else {
        sp.wrapping_sub(RED_ZONE)
    };
    let fpstate = sp.checked_sub(FPU_LEN).ok_or(Errno::EFAULT)? & !63;
    let frame = (fpstate.checked_sub(FRAME_LEN).ok_or(Errno::EFAULT)? & !15) - 8;

    let mut uc = [0u8; UC_LEN];
    put_u64(&mut uc, UC_FLAGS, UC_SS_FLAGS);
    let (ss_sp, ss_flags, ss_size) = stack_t(d.alt, regs.rsp);
    put_u64(&mut uc, UC_STACK, ss_sp);
    uc[UC_STACK + 8..UC_STACK + 12].copy_from_slice(&ss_flags.to_le_bytes());
    put_u64(&mut uc, UC_STACK + 16, ss_size);
    for (i, w) in regs.words().iter().enumerate() {
        put_u64(&mut uc, UC_MCONTEXT + 8 * i, *w);
    }
    uc[UC_MCONTEXT + SC_CS..UC_MCONTEXT + SC_CS + 2].copy_from_slice(&USER_CS.to_le_bytes());
    uc[UC_MCONTEXT + SC_SS..UC_MCONTEXT + SC_SS + 2].copy_from_slice(&USER_SS.to_le_bytes());
    put_u64(&mut uc, UC_MCONTEXT + SC_FPSTATE, fpstate);
    put_u64(&mut uc, UC_SIGMASK, d.old_mask.0);

    let info = siginfo(d.signal);

    // Everything is written before anything in `regs` changes, so a
    // fault leaves the caller to force SIGSEGV on a consistent state.
    ctx.mem.write(fpstate, &regs.fpu)?;
    ctx.mem.write(frame + INFO, &info)?;
    ctx.mem.write(frame + UC, &uc)?;
    ctx.mem.write(frame, &d.restorer.to_le_bytes())?;

    regs.rsp = frame;
    regs.rip = d.entry;
    regs.rdi = u64::from(d.signal.number());
    regs.rsi = frame + INFO;
    regs.rdx = frame + UC;
    regs.rax = 0;
    regs.clear_df_tf();
    Ok(())
}

/// `siginfo_t` for a signal sent by `kill`/`raise` (the sender is not
/// recorded: pid and uid 0).
pub(crate) fn siginfo(signal: Signal) -> [u8; INFO_LEN] {
    let mut info = [0u8; INFO_LEN];
    info[0..4].copy_from_slice(&i32::from(signal.number()).to_le_bytes());
    info[8..12].copy_from_slice(&SI_USER.to_le_bytes());
    info
}

/// Reads the x86_64 frame back: the handler has returned into its
/// restorer, whose `ret` popped `pretcode`, so `rsp` is the frame's
/// `ucontext_t`. `rflags` only in the bits a program may set.
pub(crate) fn pop_x86(regs: &mut Regs, ctx: &mut Ctx<'_>) -> libos::Result<Restored> {
    let at = regs.rsp;
    let mut uc = [0u8; UC_LEN];
    ctx.mem.read(at, &mut uc)?;
    let mut words = [0u64; 18];
    for (i, w) in words.iter_mut().enumerate() {
        *w = get_u64(&uc, UC_MCONTEXT + 8 * i);
    }
    let rflags = regs.rflags;
    let fpstate = get_u64(&uc, UC_MCONTEXT + SC_FPSTATE);
    if fpstate != 0 {
        if !fpstate.is_multiple_of(16) {
            return Err(Errno::EFAULT);
        }
        ctx.mem.read(fpstate, &mut regs.fpu)?;
    }
    regs.set_words(words);
    regs.rflags = (rflags & !USER_RFLAGS) | (words[17] & USER_RFLAGS);
    let mut f = [0u8; 4];
    f.copy_from_slice(&uc[UC_STACK + 8..UC_STACK + 12]);
    Ok(Restored {
        mask: SigSet(get_u64(&uc, UC_SIGMASK)),
        stack: (
            get_u64(&uc, UC_STACK),
            u32::from_le_bytes(f),
            get_u64(&uc, UC_STACK + 16),
        ),
    })
}
