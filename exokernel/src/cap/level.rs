//! `Level`: the 16-level security lattice and the information-flow rule.
//!
//! Levels form a total order `0 < 1 < … < 15` (a chain is a lattice: meet is
//! `min`, join is `max`). A capability's level classifies the information
//! reachable through it; an environment's *clearance* bounds the levels of
//! the capabilities it may hold.
//!
//! The rules (documented in `docs/CAPABILITIES.md`):
//! * **No raise.** Derivation and transfer never raise a level
//!   (child ≤ parent).
//! * **No read-up.** An environment holds only capabilities whose level is
//!   ≤ its clearance.
//! * **No write-down (IPC).** A message, and any capability it carries, may
//!   flow from sender to receiver only if `clearance(sender) ≤
//!   clearance(receiver)`; see [`Level::can_flow_to`].

use super::error::CapError;

/// A security level in `0..=15`; higher is more sensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// Number of levels in the lattice.
    pub const COUNT: u8 = 16;
    /// The least sensitive level (bottom of the lattice).
    pub const LOWEST: Self = Self(0);
    /// The most sensitive level (top of the lattice).
    pub const HIGHEST: Self = Self(Self::COUNT - 1);

    /// The level `value`.
    ///
    /// # Errors
    /// [`CapError::InvalidLevel`] if `value > 15`.
    pub const fn new(value: u8) -> Result<Self, CapError> {
        if value < Self::COUNT {
            Ok(Self(value))
        } else {
            Err(CapError::InvalidLevel(value))
        }
    }

    /// The level as a number in `0..=15`.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Greatest lower bound (`min`).
    #[must_use]
    pub const fn meet(self, other: Self) -> Self {
        if self.0 <= other.0 { self } else { other }
    }

    /// Least upper bound (`max`).
    #[must_use]
    pub const fn join(self, other: Self) -> Self {
        if self.0 >= other.0 { self } else { other }
    }

    /// `self ≥ other`: a holder cleared for `self` may see `other`.
    #[must_use]
    pub const fn dominates(self, other: Self) -> bool {
        self.0 >= other.0
    }

    /// The IPC flow rule: information at `self` may move to `to` only if
    /// `self ≤ to` (no write-down).
    #[must_use]
    pub const fn can_flow_to(self, to: Self) -> bool {
        self.0 <= to.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Level::new(0), Ok(Level::LOWEST));
        assert_eq!(Level::new(15), Ok(Level::HIGHEST));
        assert_eq!(Level::new(16), Err(CapError::InvalidLevel(16)));
        assert_eq!(Level::new(255), Err(CapError::InvalidLevel(255)));
    }

    #[test]
    fn lattice_ops() {
        let (a, b) = (Level(3), Level(9));
        assert_eq!(a.meet(b), a);
        assert_eq!(a.join(b), b);
        assert!(b.dominates(a) && !a.dominates(b));
        assert!(a.can_flow_to(b) && a.can_flow_to(a) && !b.can_flow_to(a));
    }
}
