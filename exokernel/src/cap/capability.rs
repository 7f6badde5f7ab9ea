//! `Capability`: the plain description of what a capability grants, and the
//! attenuation check derivation is built on.
//!
//! A capability is the 4-tuple (resource, rights, level, badge). The
//! attenuation order is the product of the per-field orders: resource by
//! sub-range, rights by inclusion, level by `≤`, badge by "unset or equal".
//! [`Capability::attenuate`] returns the child only if it is below the
//! parent in every field, and builds the child's rights as the lattice meet
//! so that amplification is impossible even if a check were wrong.

use super::error::CapError;
use super::level::Level;
use super::resource::Resource;
use super::rights::Rights;

/// A word the holder of a capability sets once and the kernel reports to
/// whoever is invoked through it (e.g. to tell endpoint clients apart).
///
/// [`Badge::NONE`] (0) means "not yet badged"; a derivation may set a badge
/// only on an unbadged parent, and never change a set one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Badge(pub u64);

impl Badge {
    /// The unset badge.
    pub const NONE: Self = Self(0);
}

/// What a capability grants: which resource, which operations, at which
/// security level, with which badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The resource range it names.
    pub resource: Resource,
    /// The operations it permits.
    pub rights: Rights,
    /// Its security level.
    pub level: Level,
    /// Its badge.
    pub badge: Badge,
}

impl Capability {
    /// An unbadged capability.
    #[must_use]
    pub const fn new(resource: Resource, rights: Rights, level: Level) -> Self {
        Self {
            resource,
            rights,
            level,
            badge: Badge::NONE,
        }
    }

    /// The same capability with `rights` instead (for building requests).
    #[must_use]
    pub const fn with_rights(self, rights: Rights) -> Self {
        Self { rights, ..self }
    }

    /// The same capability naming `resource` instead.
    #[must_use]
    pub const fn with_resource(self, resource: Resource) -> Self {
        Self { resource, ..self }
    }

    /// The same capability at `level` instead.
    #[must_use]
    pub const fn with_level(self, level: Level) -> Self {
        Self { level, ..self }
    }

    /// The same capability with `badge` instead.
    #[must_use]
    pub const fn with_badge(self, badge: Badge) -> Self {
        Self { badge, ..self }
    }

    /// Checks that the capability holds every right in `needed`.
    ///
    /// # Errors
    /// [`CapError::MissingRight`] naming the rights that are absent.
    pub fn require(&self, needed: Rights) -> Result<(), CapError> {
        let missing = needed.difference(self.rights);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(CapError::MissingRight(missing))
        }
    }

    /// The child `request` describes, if it is an attenuation of `self`.
    ///
    /// The returned child's rights are `request.rights ⊓ self.rights` and its
    /// level `request.level ⊓ self.level`; the explicit checks before that
    /// turn an over-reaching request into a typed error instead of a silent
    /// clamp.
    ///
    /// # Errors
    /// [`CapError::InvalidResource`], [`CapError::ResourceNotSubset`],
    /// [`CapError::RightsAmplification`], [`CapError::LevelRaise`] or
    /// [`CapError::BadgeConflict`].
    pub fn attenuate(&self, request: &Capability) -> Result<Capability, CapError> {
        request.resource.validate()?;
        if !self.resource.contains(&request.resource) {
            return Err(CapError::ResourceNotSubset);
        }
        if !request.rights.is_subset_of(self.rights) {
            return Err(CapError::RightsAmplification);
        }
        if !self.level.dominates(request.level) {
            return Err(CapError::LevelRaise);
        }
        if self.badge != Badge::NONE && request.badge != self.badge {
            return Err(CapError::BadgeConflict);
        }
        Ok(Capability {
            resource: request.resource,
            rights: request.rights.meet(self.rights),
            level: request.level.meet(self.level),
            badge: request.badge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Capability {
        Capability::new(
            Resource::Frames {
                first: 0,
                count: 100,
            },
            Rights::READ | Rights::WRITE | Rights::DERIVE,
            Level::new(5).unwrap_or(Level::LOWEST),
        )
    }

    #[test]
    fn identity_and_narrowing_are_allowed() {
        let p = parent();
        assert_eq!(p.attenuate(&p), Ok(p));
        let child = p
            .with_rights(Rights::READ)
            .with_resource(Resource::Frames {
                first: 10,
                count: 10,
            })
            .with_level(Level::LOWEST)
            .with_badge(Badge(9));
        assert_eq!(p.attenuate(&child), Ok(child));
    }

    #[test]
    fn every_kind_of_overreach_is_typed() {
        let p = parent();
        assert_eq!(
            p.attenuate(&p.with_rights(Rights::READ | Rights::GRANT)),
            Err(CapError::RightsAmplification)
        );
        assert_eq!(
            p.attenuate(&p.with_resource(Resource::Frames {
                first: 50,
                count: 51
            })),
            Err(CapError::ResourceNotSubset)
        );
        assert_eq!(
            p.attenuate(&p.with_resource(Resource::Frames { first: 5, count: 0 })),
            Err(CapError::InvalidResource)
        );
        assert_eq!(
            p.attenuate(&p.with_level(Level::HIGHEST)),
            Err(CapError::LevelRaise)
        );
        let badged = p.with_badge(Badge(1));
        assert_eq!(
            badged.attenuate(&p.with_badge(Badge(2))),
            Err(CapError::BadgeConflict)
        );
        assert_eq!(badged.attenuate(&p), Err(CapError::BadgeConflict));
        assert_eq!(badged.attenuate(&badged), Ok(badged));
    }

    #[test]
    fn require_reports_missing() {
        let p = parent();
        assert_eq!(p.require(Rights::READ), Ok(()));
        assert_eq!(
            p.require(Rights::READ | Rights::MAP | Rights::BIND),
            Err(CapError::MissingRight(Rights::MAP | Rights::BIND))
        );
    }
}
