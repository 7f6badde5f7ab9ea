//! `Resource`: the one kernel resource (a range of it) a capability names.
//!
//! Every resource is a non-empty half-open range `[base, base + len)` of
//! some numbered space: physical frames, CPU time slots on one core, bus
//! addresses in one device's DMA domain, IRQ lines, physical MMIO bytes,
//! IPC endpoint ids or environment ids. A uniform [`Span`] view (kind,
//! object, base, len) gives one canonical encoding and one sub-range test
//! for all of them.

use super::error::CapError;

/// Discriminant of a [`Resource`], as encoded in tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResourceKind {
    /// Physical page frames.
    Frames = 1,
    /// Time slots of one core's scheduling round.
    CpuTime = 2,
    /// A bus-address range in one device's DMA (IOMMU) domain.
    Dma = 3,
    /// Interrupt lines (global system interrupts).
    Irq = 4,
    /// Physical MMIO byte range.
    Mmio = 5,
    /// IPC endpoint ids.
    Endpoint = 6,
    /// Environment ids (authority over other environments).
    Environment = 7,
}

impl ResourceKind {
    /// Decodes a wire kind byte.
    ///
    /// # Errors
    /// [`CapError::UnknownResourceKind`] for any other byte.
    pub const fn from_wire(byte: u8) -> Result<Self, CapError> {
        Ok(match byte {
            1 => Self::Frames,
            2 => Self::CpuTime,
            3 => Self::Dma,
            4 => Self::Irq,
            5 => Self::Mmio,
            6 => Self::Endpoint,
            7 => Self::Environment,
            other => return Err(CapError::UnknownResourceKind(other)),
        })
    }

    /// Whether ranges of this kind live inside a numbered object (a core, a
    /// device) rather than one global space.
    #[must_use]
    pub const fn has_object(self) -> bool {
        matches!(self, Self::CpuTime | Self::Dma)
    }
}

/// A range of one kernel resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Physical frames `first .. first + count` (frame numbers, not bytes).
    Frames {
        /// First frame number.
        first: u64,
        /// Number of frames.
        count: u64,
    },
    /// Scheduling slots `first .. first + count` of the round on `core`.
    CpuTime {
        /// The core (HAL CPU index).
        core: u32,
        /// First slot.
        first: u64,
        /// Number of slots.
        count: u64,
    },
    /// Bus addresses `base .. base + len` in `device`'s DMA domain.
    Dma {
        /// The device / IOMMU domain id.
        device: u32,
        /// First bus address.
        base: u64,
        /// Length in bytes.
        len: u64,
    },
    /// IRQ lines `first .. first + count`.
    Irq {
        /// First line.
        first: u64,
        /// Number of lines.
        count: u64,
    },
    /// Physical MMIO bytes `base .. base + len`.
    Mmio {
        /// First physical address.
        base: u64,
        /// Length in bytes.
        len: u64,
    },
    /// IPC endpoints `first .. first + count`.
    Endpoint {
        /// First endpoint id.
        first: u64,
        /// Number of endpoints.
        count: u64,
    },
    /// Environments `first .. first + count`.
    Environment {
        /// First environment id.
        first: u64,
        /// Number of environments.
        count: u64,
    },
}

/// The canonical, kind-independent view of a [`Resource`]: the range
/// `[base, base + len)` inside `object` of space `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// Which resource space.
    pub kind: ResourceKind,
    /// Core or device id for kinds that have one, else 0.
    pub object: u64,
    /// First unit of the range.
    pub base: u64,
    /// Number of units (≥ 1).
    pub len: u64,
}

impl Span {
    /// The last unit in the range, or `None` if the range is empty or
    /// extends past `u64::MAX`.
    #[must_use]
    pub const fn last(&self) -> Option<u64> {
        match self.len.checked_sub(1) {
            Some(extra) => self.base.checked_add(extra),
            None => None,
        }
    }

    /// Whether `inner` lies wholly inside `self` (same kind and object).
    #[must_use]
    pub fn contains(&self, inner: &Span) -> bool {
        match (self.last(), inner.last()) {
            (Some(outer_last), Some(inner_last)) => {
                self.kind == inner.kind
                    && self.object == inner.object
                    && inner.base >= self.base
                    && inner_last <= outer_last
            }
            _ => false,
        }
    }
}

impl Resource {
    /// The resource's kind.
    #[must_use]
    pub const fn kind(&self) -> ResourceKind {
        match self {
            Self::Frames { .. } => ResourceKind::Frames,
            Self::CpuTime { .. } => ResourceKind::CpuTime,
            Self::Dma { .. } => ResourceKind::Dma,
            Self::Irq { .. } => ResourceKind::Irq,
            Self::Mmio { .. } => ResourceKind::Mmio,
            Self::Endpoint { .. } => ResourceKind::Endpoint,
            Self::Environment { .. } => ResourceKind::Environment,
        }
    }

    /// The canonical span of this resource.
    #[must_use]
    pub const fn span(&self) -> Span {
        let kind = self.kind();
        let (object, base, len) = match *self {
            Self::Frames { first, count }
            | Self::Irq { first, count }
            | Self::Endpoint { first, count }
            | Self::Environment { first, count } => (0, first, count),
            Self::CpuTime { core, first, count } => (core as u64, first, count),
            Self::Dma { device, base, len } => (device as u64, base, len),
            Self::Mmio { base, len } => (0, base, len),
        };
        Span {
            kind,
            object,
            base,
            len,
        }
    }

    /// Rebuilds a resource from its span, validating it.
    ///
    /// # Errors
    /// [`CapError::InvalidResource`] if the range is empty, wraps past
    /// `u64::MAX`, or the object id does not fit the kind.
    pub fn from_span(span: Span) -> Result<Self, CapError> {
        if span.last().is_none() {
            return Err(CapError::InvalidResource);
        }
        let Span {
            kind,
            object,
            base,
            len,
        } = span;
        if !kind.has_object() && object != 0 {
            return Err(CapError::InvalidResource);
        }
        let object = u32::try_from(object).map_err(|_| CapError::InvalidResource)?;
        Ok(match kind {
            ResourceKind::Frames => Self::Frames {
                first: base,
                count: len,
            },
            ResourceKind::CpuTime => Self::CpuTime {
                core: object,
                first: base,
                count: len,
            },
            ResourceKind::Dma => Self::Dma {
                device: object,
                base,
                len,
            },
            ResourceKind::Irq => Self::Irq {
                first: base,
                count: len,
            },
            ResourceKind::Mmio => Self::Mmio { base, len },
            ResourceKind::Endpoint => Self::Endpoint {
                first: base,
                count: len,
            },
            ResourceKind::Environment => Self::Environment {
                first: base,
                count: len,
            },
        })
    }

    /// Checks that the range is non-empty and does not wrap.
    ///
    /// # Errors
    /// [`CapError::InvalidResource`] otherwise.
    pub fn validate(&self) -> Result<(), CapError> {
        Self::from_span(self.span()).map(|_| ())
    }

    /// Whether `inner` is a sub-range of `self` (same kind and object).
    #[must_use]
    pub fn contains(&self, inner: &Resource) -> bool {
        self.span().contains(&inner.span())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_round_trip() {
        let all = [
            Resource::Frames {
                first: 10,
                count: 5,
            },
            Resource::CpuTime {
                core: 3,
                first: 0,
                count: 8,
            },
            Resource::Dma {
                device: 7,
                base: 0x1000,
                len: 0x2000,
            },
            Resource::Irq {
                first: 33,
                count: 1,
            },
            Resource::Mmio {
                base: 0xfee0_0000,
                len: 0x1000,
            },
            Resource::Endpoint { first: 1, count: 1 },
            Resource::Environment { first: 4, count: 2 },
        ];
        for r in all {
            assert_eq!(Resource::from_span(r.span()), Ok(r));
            assert_eq!(ResourceKind::from_wire(r.kind() as u8), Ok(r.kind()));
        }
    }

    #[test]
    fn rejects_empty_and_wrapping() {
        assert_eq!(
            Resource::Frames { first: 1, count: 0 }.validate(),
            Err(CapError::InvalidResource)
        );
        assert_eq!(
            Resource::Mmio {
                base: u64::MAX,
                len: 2
            }
            .validate(),
            Err(CapError::InvalidResource)
        );
        // The very last unit is addressable.
        assert_eq!(
            Resource::Mmio {
                base: u64::MAX,
                len: 1
            }
            .validate(),
            Ok(())
        );
        assert_eq!(
            Resource::Mmio {
                base: 0,
                len: u64::MAX
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn rejects_object_on_objectless_kind() {
        let span = Span {
            kind: ResourceKind::Frames,
            object: 1,
            base: 0,
            len: 1,
        };
        assert_eq!(Resource::from_span(span), Err(CapError::InvalidResource));
        let span = Span {
            kind: ResourceKind::Dma,
            object: 1 << 32,
            base: 0,
            len: 1,
        };
        assert_eq!(Resource::from_span(span), Err(CapError::InvalidResource));
    }

    #[test]
    fn containment() {
        let parent = Resource::Frames {
            first: 100,
            count: 50,
        };
        assert!(parent.contains(&parent));
        assert!(parent.contains(&Resource::Frames {
            first: 100,
            count: 1
        }));
        assert!(parent.contains(&Resource::Frames {
            first: 149,
            count: 1
        }));
        assert!(!parent.contains(&Resource::Frames {
            first: 149,
            count: 2
        }));
        assert!(!parent.contains(&Resource::Frames {
            first: 99,
            count: 2
        }));
        assert!(!parent.contains(&Resource::Mmio { base: 100, len: 1 }));
        assert!(!parent.contains(&Resource::Frames {
            first: 120,
            count: u64::MAX
        }));
        let core0 = Resource::CpuTime {
            core: 0,
            first: 0,
            count: 10,
        };
        assert!(!core0.contains(&Resource::CpuTime {
            core: 1,
            first: 0,
            count: 1
        }));
        assert!(
            !Resource::Frames { first: 0, count: 0 }
                .contains(&Resource::Frames { first: 0, count: 0 })
        );
    }

    #[test]
    fn unknown_kinds() {
        for b in [0u8, 8, 0xff] {
            assert_eq!(
                ResourceKind::from_wire(b),
                Err(CapError::UnknownResourceKind(b))
            );
        }
    }
}
