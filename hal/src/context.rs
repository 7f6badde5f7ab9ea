//! Arch-neutral view of a user environment's saved registers.
//!
//! The exokernel keeps one saved context per environment and switches
//! environments by swapping them; it reads system-call arguments from and
//! writes results into a context through this trait, so the policy code
//! never names a register.

/// Saved user-mode registers of one environment.
pub trait UserContext: Copy + core::fmt::Debug {
    /// A context that starts user code at `entry` with stack pointer
    /// `stack` and `arg` in the first argument register; every other
    /// register zero, interrupts enabled, user privilege.
    fn new_user(entry: u64, stack: u64, arg: u64) -> Self;

    /// The system-call number the environment asked for.
    fn syscall_number(&self) -> u64;

    /// The six system-call argument registers, in ABI order.
    fn syscall_args(&self) -> [u64; 6];

    /// Stores up to six result values: the first in the result register,
    /// the rest in the argument registers in ABI order.
    fn set_results(&mut self, values: &[u64]);

    /// The user instruction pointer.
    fn instruction_pointer(&self) -> u64;
}
