//! What the register-level entry needs to know of one architecture's
//! Linux ABI: where a system call's number, arguments and result live,
//! how to go back to the `syscall`/`svc` instruction, its call numbers for
//! the calls that change registers, and its signal frame.

use exo_personality::{Ctx, Table};
use libos::Result;
use libos::process::AltStack;
use libos::signal::{SigSet, Signal};

/// A signal about to be delivered, as the frame records it (crate
/// internal; public only because the sealed frame trait names it).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    pub(crate) signal: Signal,
    pub(crate) entry: u64,
    pub(crate) old_mask: SigSet,
    pub(crate) restorer: u64,
    /// The alternate stack in force, and whether the handler runs on it
    /// (`SA_ONSTACK`, armed, not already on it).
    pub(crate) alt: Option<AltStack>,
    pub(crate) on_alt: bool,
}

/// What `rt_sigreturn` found in the frame besides the registers (crate
/// internal, as [`Delivery`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Restored {
    pub(crate) mask: SigSet,
    /// `uc_stack`: base, flags, size.
    pub(crate) stack: (u64, u32, u64),
}

/// One architecture's user register file and Linux system-call ABI.
pub trait Arch: Frame + Clone + core::fmt::Debug + PartialEq + Eq {
    /// `e_machine` of its executables.
    const MACHINE: u16;
    /// Its call numbers of the calls the register-level entry handles.
    #[doc(hidden)]
    const NR: Numbers;
    /// Calls a handler never restarts (`-ERESTARTNOHAND` and timed
    /// waits), in its numbering.
    #[doc(hidden)]
    const NEVER_RESTARTED: &'static [u64];

    /// Its call table.
    fn table() -> &'static Table;
    /// A fresh program's registers: entry point, stack pointer, the rest
    /// zero, default FPU state.
    fn start(entry: u64, sp: u64) -> Self;
    /// The call number.
    fn number(&self) -> u64;
    /// The six arguments.
    fn args(&self) -> [u64; 6];
    /// The result register.
    fn result(&self) -> u64;
    /// Sets the result register.
    fn set_result(&mut self, v: u64);
    /// Back to the system-call instruction with the call's number and
    /// arguments as they were, so it runs again.
    fn restart(&mut self, number: u64, args: [u64; 6]);
    /// The stack pointer.
    fn sp(&self) -> u64;
    /// Sets the stack pointer.
    fn set_sp(&mut self, sp: u64);
    /// `clone`'s arguments as `[flags, stack, parent_tid, child_tid,
    /// tls]` (the order differs between architectures).
    fn clone_args(a: [u64; 6]) -> [u64; 5];
}

/// The signal-frame half of [`Arch`], kept inside the crate (the frame
/// records are the crate's own types); the sealed-trait pattern.
mod sealed {
    use super::{Ctx, Delivery, Restored, Result};

    pub trait Frame {
        /// Writes the signal frame for `d` below `sp` (the stack to use)
        /// and points the registers at the handler.
        ///
        /// # Errors
        /// `EFAULT` when the frame cannot be written.
        fn push_frame(&mut self, ctx: &mut Ctx<'_>, sp: u64, d: &Delivery) -> Result<()>;
        /// Reads the frame back at the stack pointer (`rt_sigreturn`)
        /// into the registers.
        ///
        /// # Errors
        /// `EFAULT` for a frame that cannot be read or is malformed.
        fn pop_frame(&mut self, ctx: &mut Ctx<'_>) -> Result<Restored>;
        /// Whether handlers need `SA_RESTORER` (no vDSO trampoline here).
        fn needs_restorer() -> bool {
            true
        }
    }
}

pub(crate) use sealed::Frame;

/// Call numbers the register-level entry handles itself.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Numbers {
    pub rt_sigreturn: u64,
    pub clone: u64,
    pub execve: u64,
    pub exit: u64,
    pub exit_group: u64,
    pub gettid: u64,
    pub futex: u64,
    pub set_tid_address: u64,
}
