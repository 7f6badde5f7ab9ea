//! A Linux thread's user registers, and the system-call entry for
//! embedders that hold them.
//!
//! Most calls only take six arguments and give back one value, which
//! [`crate::syscall`] covers. Three change the caller's registers
//! wholesale: `rt_sigreturn` (the interrupted context comes back from the
//! signal frame), `execve` (a new program starts) and every call after
//! which a caught signal is delivered (the handler starts). An embedder
//! that saves the program's registers at a system call (the bare-metal
//! upcall handler, a hosted emulator) passes them to [`syscall`], then
//! resumes the program from whatever [`Regs`] holds afterwards.

use libos::process::ExitStatus;
use libos::signal::Signal;

use exo_personality::Ctx;

use crate::threads::{self, NewThread, Parked};
use crate::{exec, result, sigframe};

/// The user registers of an x86_64 thread, in `struct sigcontext` order,
/// plus its x87/SSE state as `FXSAVE` lays it out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Regs {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
    /// The `FXSAVE` image (512 bytes): what a signal handler may clobber
    /// and `rt_sigreturn` restores. The embedder saves and loads it.
    pub fpu: [u8; 512],
}

/// The registers of `r` in `struct sigcontext` order, as an array
/// expression (read) or an assignee (write).
macro_rules! sigcontext_order {
    ($r:ident) => {
        [
            $r.r8, $r.r9, $r.r10, $r.r11, $r.r12, $r.r13, $r.r14, $r.r15, $r.rdi, $r.rsi, $r.rbp,
            $r.rbx, $r.rdx, $r.rax, $r.rcx, $r.rsp, $r.rip, $r.rflags,
        ]
    };
}

/// `rflags` bits a program may set through `rt_sigreturn` (Linux's
/// `FIX_EFLAGS`: CF PF AF ZF SF TF DF OF AC RF).
pub const USER_RFLAGS: u64 = 0x0005_0dd5;
/// `rflags` of a fresh program: only the always-one bit 1 and IF.
pub const INITIAL_RFLAGS: u64 = 0x202;
/// The direction and trap flags, cleared on entry to a handler.
const DF_TF: u64 = 0x400 | 0x100;

impl Regs {
    /// The registers of a program starting at `entry` with its stack at
    /// `sp`: everything else zero, `FNINIT`/default-`MXCSR` FPU state.
    #[must_use]
    pub fn start(entry: u64, sp: u64) -> Self {
        let mut fpu = [0u8; 512];
        fpu[0..2].copy_from_slice(&0x037f_u16.to_le_bytes()); // FCW
        fpu[24..28].copy_from_slice(&0x1f80_u32.to_le_bytes()); // MXCSR
        fpu[28..32].copy_from_slice(&0xffff_u32.to_le_bytes()); // MXCSR_MASK
        Self {
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
            rdi: 0,
            rsi: 0,
            rbp: 0,
            rbx: 0,
            rdx: 0,
            rax: 0,
            rcx: 0,
            rsp: sp,
            rip: entry,
            rflags: INITIAL_RFLAGS,
            fpu,
        }
    }

    /// The 18 words of `struct sigcontext` from `r8` to `eflags`.
    #[must_use]
    pub fn words(&self) -> [u64; 18] {
        sigcontext_order!(self)
    }

    /// Sets the registers from [`Regs::words`]' layout (the FPU state
    /// stays).
    pub fn set_words(&mut self, w: [u64; 18]) {
        sigcontext_order!(self) = w;
    }

    /// The system call's six arguments (`rdi rsi rdx r10 r8 r9`).
    #[must_use]
    pub fn args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// `DF` and `TF` cleared, as on entry to a signal handler.
    pub(crate) fn clear_df_tf(&mut self) {
        self.rflags &= !DF_TF;
    }
}

/// What the embedder does after [`syscall`] or [`syscall_as`].
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Resume the program from the (possibly replaced) registers.
    Resume,
    /// The process ended (`exit_group`, the last thread's `exit`, a fatal
    /// signal, a failed `execve` past its point of no return): end every
    /// thread.
    Exit(ExitStatus),
    /// A stop signal stopped the process: resume it (from `regs`) once
    /// the libOS shows it running again (`SIGCONT`).
    Stopped(Signal),
    /// ([`syscall_as`] only) `clone` made a thread: start it, and resume
    /// the caller (its `rax` holds the new thread's id).
    Spawn(alloc::boxed::Box<NewThread>),
    /// ([`syscall_as`] only) the calling thread ended (`exit` with other
    /// threads left); the process goes on.
    ThreadExit,
    /// ([`syscall_as`] only) the calling thread waits on a futex: run
    /// others, and resume it once [`Parked::poll`] gives its result.
    Park(Parked),
    /// ([`syscall_as`] only) `execve` replaced the program: every other
    /// thread is gone; resume the caller from the new registers.
    Execed,
}

/// x86_64 numbers of the calls handled here rather than in the table.
const RT_SIGRETURN: u64 = 15;
const CLONE: u64 = 56;
const EXECVE: u64 = 59;
const EXIT: u64 = 60;
const GETTID: u64 = 186;
const FUTEX: u64 = 202;
const SET_TID_ADDRESS: u64 = 218;
const EXIT_GROUP: u64 = 231;

/// Runs the system call the registers describe (number in `rax`,
/// arguments in `rdi rsi rdx r10 r8 r9`, x86_64 numbering) and leaves in
/// `regs` where the program resumes: the result in `rax`, or a whole new
/// context after `rt_sigreturn` and `execve`, then — if a caught signal is
/// pending and unblocked — its handler's frame. A signal whose default
/// action ends the process ends it here. The process has one thread (the
/// caller, whose id is the pid): a `futex` wait blocks, and `clone` with
/// `CLONE_THREAD` is `EINVAL`.
pub fn syscall(ctx: &mut Ctx<'_>, regs: &mut Regs) -> Flow {
    match run(ctx, ctx.pid, regs, false) {
        Flow::Execed => Flow::Resume,
        flow => flow,
    }
}

/// [`syscall`] for thread `tid` of a process whose threads the embedder
/// runs itself, one at a time in one execution context (the bare-metal
/// upcall handler): `clone` may make threads ([`Flow::Spawn`]), `exit`
/// ends only the caller ([`Flow::ThreadExit`]), `gettid` and
/// `set_tid_address` are the thread's, and a `futex` wait does not block
/// but parks the thread ([`Flow::Park`]) so the embedder can run the one
/// that will wake it. Other blocking calls block every thread.
pub fn syscall_as(ctx: &mut Ctx<'_>, tid: u32, regs: &mut Regs) -> Flow {
    run(ctx, tid, regs, true)
}

fn run(ctx: &mut Ctx<'_>, tid: u32, regs: &mut Regs, threaded: bool) -> Flow {
    let number = regs.rax;
    let args = regs.args();
    let mut restartable = true;
    let mut flow = Flow::Resume;
    match number {
        RT_SIGRETURN => {
            if sigframe::sigreturn(ctx, regs).is_err() {
                // A corrupt frame: Linux forces SIGSEGV.
                return sigframe::force_sigsegv(ctx);
            }
            restartable = false;
        }
        EXECVE => match exec::execve(ctx, args) {
            Ok(fresh) => {
                *regs = fresh;
                restartable = false;
                flow = Flow::Execed;
            }
            Err(exec::Failed::Refused(e)) => regs.rax = result(Err(e)) as u64,
            Err(exec::Failed::Fatal) => return sigframe::force_sigsegv(ctx),
        },
        EXIT if threaded => return threads::exit(ctx, tid, args[0]),
        EXIT | EXIT_GROUP => {
            let _ = crate::syscall(ctx, number, args);
            return Flow::Exit(ExitStatus::Exited(args[0] as u8));
        }
        CLONE if threaded && args[0] & threads::CLONE_THREAD != 0 => {
            match threads::clone(ctx, regs, args) {
                Ok(t) => {
                    regs.rax = u64::from(t.tid);
                    flow = Flow::Spawn(alloc::boxed::Box::new(t));
                }
                Err(e) => regs.rax = result(Err(e)) as u64,
            }
        }
        GETTID if threaded => regs.rax = u64::from(tid),
        SET_TID_ADDRESS if threaded => {
            regs.rax = result(threads::set_tid_address(ctx, tid, args[0])) as u64;
        }
        FUTEX if threaded => match crate::events::futex_wait_request(ctx, args) {
            Ok(Some(w)) => match threads::park(ctx, w) {
                Ok(parked) => return Flow::Park(parked),
                Err(e) => regs.rax = result(Err(e)) as u64,
            },
            Ok(None) => regs.rax = crate::syscall(ctx, number, args) as u64,
            Err(e) => regs.rax = result(Err(e)) as u64,
        },
        _ => regs.rax = crate::syscall(ctx, number, args) as u64,
    }
    let interrupted = restartable.then_some(number);
    match sigframe::deliver(ctx, regs, interrupted) {
        Flow::Resume => flow,
        other => other,
    }
}
