//! `EnvId` and `CapHandle`: how the kernel names an environment and one
//! live capability in its table.
//!
//! A handle is the fast-path name used on every syscall: a slot index into
//! the calling environment's table plus the slot generation the handle was
//! issued for. It is meaningful only together with the environment the
//! kernel already knows is calling, so it needs no authentication; an
//! authenticated, environment-bound name for use outside the kernel is a
//! [`Token`](super::token::Token).

/// An environment id (index into the capability space's tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvId(pub u32);

/// A capability in one environment's table: slot `index`, incarnation
/// `generation`.
///
/// Generations of a slot only grow and live ones are odd; a handle whose
/// generation no longer matches the slot refers to a revoked capability and
/// is refused with [`CapError::Revoked`](super::error::CapError::Revoked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapHandle {
    /// Slot index in the owning environment's table.
    pub index: u32,
    /// The slot generation this handle was issued for.
    pub generation: u64,
}
