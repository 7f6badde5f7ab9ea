//! A Linux thread's user registers, and the system-call entry for
//! embedders that hold them.
//!
//! Most calls only take six arguments and give back one value, which
//! [`crate::syscall`] covers. Three change the caller's registers
//! wholesale: `rt_sigreturn` (the interrupted context comes back from the
//! signal frame), `execve` (a new program starts) and every call after
//! which a caught signal is delivered (the handler starts). An embedder
//! that saves the program's registers at a system call (the bare-metal
//! upcall handler, a hosted emulator) passes them to [`syscall`] (or, when
//! it runs the process's threads itself, [`syscall_as`]), then resumes the
//! program from whatever the registers — [`Regs`] on x86_64,
//! [`A64Regs`](crate::A64Regs) on aarch64 — hold afterwards.

use libos::process::ExitStatus;
use libos::signal::Signal;

use exo_personality::{Ctx, Table};

use crate::arch::{Arch, Delivery, Frame, Numbers, Restored};
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
pub enum Flow<A: Arch = Regs> {
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
    /// the caller (its result register holds the new thread's id).
    Spawn(alloc::boxed::Box<NewThread<A>>),
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

impl Arch for Regs {
    const MACHINE: u16 = libos::exec::EM_X86_64;
    const NR: Numbers = Numbers {
        rt_sigreturn: 15,
        clone: 56,
        execve: 59,
        exit: 60,
        exit_group: 231,
        gettid: 186,
        futex: 202,
        set_tid_address: 218,
    };
    /// poll, select, pause, nanosleep, rt_sigsuspend, clock_nanosleep,
    /// epoll_wait, pselect6, ppoll, epoll_pwait, epoll_pwait2.
    const NEVER_RESTARTED: &'static [u64] = &[7, 23, 34, 35, 130, 230, 232, 270, 271, 281, 441];

    fn table() -> &'static Table {
        &crate::TABLE
    }
    fn start(entry: u64, sp: u64) -> Self {
        Regs::start(entry, sp)
    }
    fn number(&self) -> u64 {
        self.rax
    }
    fn args(&self) -> [u64; 6] {
        Regs::args(self)
    }
    fn result(&self) -> u64 {
        self.rax
    }
    fn set_result(&mut self, v: u64) {
        self.rax = v;
    }
    fn restart(&mut self, number: u64, _args: [u64; 6]) {
        // `syscall` is 2 bytes; the arguments are still in their
        // registers (only rax holds the result).
        self.rax = number;
        self.rip = self.rip.wrapping_sub(2);
    }
    fn sp(&self) -> u64 {
        self.rsp
    }
    fn set_sp(&mut self, sp: u64) {
        self.rsp = sp;
    }
    fn clone_args(a: [u64; 6]) -> [u64; 5] {
        // clone(flags, stack, parent_tid, child_tid, tls)
        [a[0], a[1], a[2], a[3], a[4]]
    }
}

impl Frame for Regs {
    fn push_frame(&mut self, ctx: &mut Ctx<'_>, sp: u64, d: &Delivery) -> libos::Result<()> {
        sigframe::push_x86(self, ctx, sp, d)
    }
    fn pop_frame(&mut self, ctx: &mut Ctx<'_>) -> libos::Result<Restored> {
        sigframe::pop_x86(self, ctx)
    }
}

/// Runs the system call the registers describe (number, arguments and
/// result where the architecture's Linux ABI puts them: `rax`, `rdi rsi
/// rdx r10 r8 r9` on x86_64, `x8`, `x0`–`x5` on aarch64) and leaves in
/// `regs` where the program resumes: the result in place, or a whole new
/// context after `rt_sigreturn` and `execve`, then — if a caught signal is
/// pending and unblocked — its handler's frame. A signal whose default
/// action ends the process ends it here. The process has one thread (the
/// caller, whose id is the pid): a `futex` wait blocks, and `clone` with
/// `CLONE_THREAD` is `EINVAL`.
pub fn syscall<A: Arch>(ctx: &mut Ctx<'_>, regs: &mut A) -> Flow<A> {
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
pub fn syscall_as<A: Arch>(ctx: &mut Ctx<'_>, tid: u32, regs: &mut A) -> Flow<A> {
    run(ctx, tid, regs, true)
}

fn run<A: Arch>(ctx: &mut Ctx<'_>, tid: u32, regs: &mut A, threaded: bool) -> Flow<A> {
    let nr = A::NR;
    let number = regs.number();
    let args = regs.args();
    let mut restartable = true;
    let mut flow = Flow::Resume;
    let set = |regs: &mut A, r: libos::Result<u64>| regs.set_result(result(r) as u64);
    match number {
        n if n == nr.rt_sigreturn => {
            if sigframe::sigreturn(ctx, regs).is_err() {
                // A corrupt frame: Linux forces SIGSEGV.
                return sigframe::force_sigsegv(ctx);
            }
            restartable = false;
        }
        n if n == nr.execve => match exec::execve::<A>(ctx, args) {
            Ok(fresh) => {
                *regs = fresh;
                restartable = false;
                flow = Flow::Execed;
            }
            Err(exec::Failed::Refused(e)) => set(regs, Err(e)),
            Err(exec::Failed::Fatal) => return sigframe::force_sigsegv(ctx),
        },
        n if n == nr.exit && threaded => return threads::exit(ctx, tid, args[0]),
        n if n == nr.exit || n == nr.exit_group => {
            let _ = A::table().dispatch(ctx, number, args);
            return Flow::Exit(ExitStatus::Exited(args[0] as u8));
        }
        n if n == nr.clone && threaded && args[0] & threads::CLONE_THREAD != 0 => {
            match threads::clone(ctx, regs, A::clone_args(args)) {
                Ok(t) => {
                    regs.set_result(u64::from(t.tid));
                    flow = Flow::Spawn(alloc::boxed::Box::new(t));
                }
                Err(e) => set(regs, Err(e)),
            }
        }
        n if n == nr.gettid && threaded => regs.set_result(u64::from(tid)),
        n if n == nr.set_tid_address && threaded => {
            set(regs, threads::set_tid_address(ctx, tid, args[0]));
        }
        n if n == nr.futex && threaded => match crate::events::futex_wait_request(ctx, args) {
            Ok(Some(w)) => match threads::park(ctx, w) {
                Ok(parked) => return Flow::Park(parked),
                Err(e) => set(regs, Err(e)),
            },
            Ok(None) => set(regs, A::table().dispatch(ctx, number, args)),
            Err(e) => set(regs, Err(e)),
        },
        _ => set(regs, A::table().dispatch(ctx, number, args)),
    }
    let interrupted = restartable.then_some((number, args));
    match sigframe::deliver(ctx, regs, interrupted) {
        Flow::Resume => flow,
        other => other,
    }
}
