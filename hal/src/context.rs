//! Arch-neutral view of a user environment's saved registers.
//!
//! The exokernel keeps one saved context per environment and switches
//! environments by swapping them; it reads system-call arguments from and
//! writes results into a context through this trait, so the policy code
//! never names a register.

/// Words in the portable image of a user context ([`UserContext::to_words`]):
/// enough for every supported architecture (aarch64: x0–x30, sp, pc,
/// pstate); unused words are zero.
pub const CONTEXT_WORDS: usize = 34;

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

    /// The registers as words, in the arch's documented order (for upcall
    /// frames that user code reads and edits).
    fn to_words(&self) -> [u64; CONTEXT_WORDS];

    /// A context from [`to_words`](Self::to_words) output that user code
    /// may have edited: privilege, selectors and control flags are forced
    /// to their user-mode values, so no word can raise privilege.
    fn from_words(words: &[u64; CONTEXT_WORDS]) -> Self;

    /// Takes from `from` the register state that [`to_words`](Self::to_words)
    /// does not carry but the CPU would keep across the change (vector
    /// registers, where the arch saves them in the context), for contexts
    /// the kernel builds in place of a running one (upcalls). Nothing by
    /// default.
    fn keep_vector_state(&mut self, from: &Self) {
        let _ = from;
    }
}
