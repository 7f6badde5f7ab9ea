//! `Rights`: the bitflags lattice of operations a capability permits.
//!
//! The lattice is the powerset of the individual rights ordered by
//! inclusion: `meet` is intersection, `join` is union, the top is
//! [`Rights::all`] and the bottom is [`Rights::empty`]. Derivation always
//! takes the meet of the parent's rights and the requested ones, so a child
//! can never hold a right its parent lacks.

use super::error::CapError;

bitflags::bitflags! {
    /// Operations a capability permits on its resource.
    ///
    /// Bits not named here are reserved: tokens carrying them are rejected
    /// with [`CapError::UnknownRights`], so old kernels never silently drop a
    /// right a newer encoding added.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u32 {
        /// Read the resource (load from frames/MMIO, receive on an endpoint).
        const READ = 1 << 0;
        /// Write the resource (store to frames/MMIO, send on an endpoint).
        const WRITE = 1 << 1;
        /// Execute from the resource (frames mapped executable).
        const EXECUTE = 1 << 2;
        /// Map the resource into an address space or IOMMU domain.
        const MAP = 1 << 3;
        /// Transfer the capability to another environment.
        const GRANT = 1 << 4;
        /// Derive attenuated children from the capability.
        const DERIVE = 1 << 5;
        /// Revoke the capability and everything derived from it.
        const REVOKE = 1 << 6;
        /// Bind the resource to a consumer (an IRQ line to an endpoint, a CPU
        /// slice to an environment, a DMA region to a device).
        const BIND = 1 << 7;
    }
}

impl Rights {
    /// Greatest lower bound: the rights present in both.
    #[must_use]
    pub const fn meet(self, other: Self) -> Self {
        self.intersection(other)
    }

    /// Least upper bound: the rights present in either.
    #[must_use]
    pub const fn join(self, other: Self) -> Self {
        self.union(other)
    }

    /// `self ≤ other` in the lattice: every right in `self` is in `other`.
    #[must_use]
    pub const fn is_subset_of(self, other: Self) -> bool {
        other.contains(self)
    }

    /// Decodes a wire rights word, rejecting undefined bits.
    ///
    /// # Errors
    /// [`CapError::UnknownRights`] if any reserved bit is set.
    pub const fn from_wire(bits: u32) -> Result<Self, CapError> {
        match Self::from_bits(bits) {
            Some(rights) => Ok(rights),
            None => Err(CapError::UnknownRights(bits)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meet_is_intersection_and_below_both() {
        let a = Rights::READ | Rights::WRITE | Rights::DERIVE;
        let b = Rights::READ | Rights::MAP;
        assert_eq!(a.meet(b), Rights::READ);
        assert!(a.meet(b).is_subset_of(a));
        assert!(a.meet(b).is_subset_of(b));
        assert_eq!(
            a.join(b),
            Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::MAP
        );
    }

    #[test]
    fn subset_order() {
        assert!(Rights::empty().is_subset_of(Rights::READ));
        assert!(Rights::READ.is_subset_of(Rights::all()));
        assert!(!Rights::all().is_subset_of(Rights::READ));
        assert!(!Rights::WRITE.is_subset_of(Rights::READ));
    }

    #[test]
    fn wire_rejects_reserved_bits() {
        assert_eq!(Rights::from_wire(0x3), Ok(Rights::READ | Rights::WRITE));
        assert_eq!(
            Rights::from_wire(1 << 8),
            Err(CapError::UnknownRights(1 << 8))
        );
        assert_eq!(
            Rights::from_wire(u32::MAX),
            Err(CapError::UnknownRights(u32::MAX))
        );
    }
}
