//! Boot manifests: which device resources a boot-module environment gets.
//!
//! The kernel has no drivers, so someone must hand device capabilities to
//! the environment that drives the device. At boot that is the module's
//! command line: `name irq=20 mmio=0xfed00000+0x1000` gives the environment
//! an IRQ capability for line 20 (with `BIND`) and an MMIO capability for
//! that page (read, write, map). This module parses the words; the boot
//! code checks the ranges against RAM and the kernel's own devices before
//! granting anything.

use crate::cap::{Capability, Level, Resource, Rights};
use arrayvec::ArrayVec;

/// Most grants one module may ask for.
pub const MAX_GRANTS: usize = 8;

/// One device resource to grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Interrupt lines `first ..= last`.
    Irq {
        /// First line.
        first: u64,
        /// Last line.
        last: u64,
    },
    /// Physical MMIO bytes `base .. base + len` (page-aligned).
    Mmio {
        /// First byte.
        base: u64,
        /// Length.
        len: u64,
    },
}

impl core::fmt::Display for Grant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Irq { first, last } if first == last => write!(f, "IRQ line {first}"),
            Self::Irq { first, last } => write!(f, "IRQ lines {first}-{last}"),
            Self::Mmio { base, len } => write!(f, "MMIO {base:#x}+{len:#x}"),
        }
    }
}

/// Why a manifest word was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError<'a> {
    /// A word that is not `irq=…` or `mmio=…`.
    #[error("unknown manifest word '{0}'")]
    Unknown(&'a str),
    /// A value that does not parse or is out of range.
    #[error("bad value in '{0}'")]
    BadValue(&'a str),
    /// More than [`MAX_GRANTS`] grants.
    #[error("more than {MAX_GRANTS} grants")]
    TooMany,
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses the words after the module name.
///
/// # Errors
/// The first bad word.
pub fn parse(words: &str) -> Result<ArrayVec<Grant, MAX_GRANTS>, ManifestError<'_>> {
    let mut grants = ArrayVec::new();
    for word in words.split_ascii_whitespace() {
        let grant = match word.split_once('=') {
            Some(("irq", v)) => {
                let (a, b) = v.split_once('-').unwrap_or((v, v));
                match (number(a), number(b)) {
                    (Some(first), Some(last)) if first <= last && last < 256 => {
                        Grant::Irq { first, last }
                    }
                    _ => return Err(ManifestError::BadValue(word)),
                }
            }
            Some(("mmio", v)) => {
                let parsed = v
                    .split_once('+')
                    .and_then(|(b, l)| Some((number(b)?, number(l)?)));
                match parsed {
                    Some((base, len))
                        if len > 0
                            && base.is_multiple_of(4096)
                            && len.is_multiple_of(4096)
                            && base.checked_add(len).is_some() =>
                    {
                        Grant::Mmio { base, len }
                    }
                    _ => return Err(ManifestError::BadValue(word)),
                }
            }
            _ => return Err(ManifestError::Unknown(word)),
        };
        grants.try_push(grant).map_err(|_| ManifestError::TooMany)?;
    }
    Ok(grants)
}

/// Why a parsed grant is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefused {
    /// The MMIO range overlaps RAM the firmware reported.
    #[error("overlaps RAM")]
    Ram,
    /// The MMIO range overlaps a device the kernel drives itself.
    #[error("overlaps a device the kernel uses")]
    KernelDevice,
}

/// The capability a boot environment gets for `grant`: IRQ lines with
/// bind/grant/derive, or MMIO with read/write/map/grant/derive when the
/// range is neither RAM (`memory`, any non-reserved region) nor one of the
/// kernel's own devices (`reserved`, `[start, end)` ranges). The policy
/// both boot paths share.
///
/// # Errors
/// See [`GrantRefused`].
pub fn capability_for(
    grant: Grant,
    memory: &[hal::MemoryRegion],
    reserved: &[(u64, u64)],
) -> Result<Capability, GrantRefused> {
    let level = Level::new(8).unwrap_or(Level::HIGHEST);
    match grant {
        Grant::Irq { first, last } => Ok(Capability::new(
            Resource::Irq {
                first,
                count: last - first + 1,
            },
            Rights::BIND | Rights::GRANT | Rights::DERIVE,
            level,
        )),
        Grant::Mmio { base, len } => {
            let end = base + len;
            if memory
                .iter()
                .any(|r| r.kind != hal::MemoryKind::Reserved && r.start < end && base < r.end())
            {
                return Err(GrantRefused::Ram);
            }
            if reserved.iter().any(|&(s, e)| s < end && base < e) {
                return Err(GrantRefused::KernelDevice);
            }
            Ok(Capability::new(
                Resource::Mmio { base, len },
                Rights::READ | Rights::WRITE | Rights::MAP | Rights::GRANT | Rights::DERIVE,
                level,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_become_capabilities_unless_they_touch_ram_or_kernel_devices() {
        let memory = [hal::MemoryRegion {
            start: 0x4000_0000,
            len: 0x1000_0000,
            kind: hal::MemoryKind::Usable,
        }];
        let kernel = [(0x0900_0000, 0x0900_1000)];
        let irq = capability_for(Grant::Irq { first: 3, last: 5 }, &memory, &kernel).expect("irq");
        assert_eq!(irq.resource, Resource::Irq { first: 3, count: 3 });
        assert!(irq.rights.contains(Rights::BIND));
        let mmio = Grant::Mmio {
            base: 0x0a00_0000,
            len: 0x1000,
        };
        let cap = capability_for(mmio, &memory, &kernel).expect("mmio");
        assert!(cap.rights.contains(Rights::MAP | Rights::WRITE));
        assert_eq!(
            capability_for(
                Grant::Mmio {
                    base: 0x4fff_f000,
                    len: 0x2000
                },
                &memory,
                &kernel
            ),
            Err(GrantRefused::Ram)
        );
        assert_eq!(
            capability_for(
                Grant::Mmio {
                    base: 0x0900_0000,
                    len: 0x1000
                },
                &memory,
                &kernel
            ),
            Err(GrantRefused::KernelDevice)
        );
    }

    #[test]
    fn grants_parse() {
        let g = parse("irq=20 mmio=0xfed00000+0x1000 irq=3-5").expect("ok");
        assert_eq!(
            g.as_slice(),
            &[
                Grant::Irq {
                    first: 20,
                    last: 20
                },
                Grant::Mmio {
                    base: 0xfed0_0000,
                    len: 0x1000
                },
                Grant::Irq { first: 3, last: 5 },
            ]
        );
        assert_eq!(parse("").map(|g| g.len()), Ok(0));
        let shown: alloc::vec::Vec<alloc::string::String> =
            g.iter().map(alloc::string::ToString::to_string).collect();
        assert_eq!(
            shown,
            ["IRQ line 20", "MMIO 0xfed00000+0x1000", "IRQ lines 3-5"]
        );
    }

    #[test]
    fn bad_words_are_refused() {
        for (line, err) in [
            ("frob", ManifestError::Unknown("frob")),
            ("irq=", ManifestError::BadValue("irq=")),
            ("irq=5-3", ManifestError::BadValue("irq=5-3")),
            ("irq=999", ManifestError::BadValue("irq=999")),
            ("mmio=0x1000", ManifestError::BadValue("mmio=0x1000")),
            (
                "mmio=0x1001+0x1000",
                ManifestError::BadValue("mmio=0x1001+0x1000"),
            ),
            ("mmio=0x1000+0", ManifestError::BadValue("mmio=0x1000+0")),
            (
                "mmio=0xfffffffffffff000+0x2000",
                ManifestError::BadValue("mmio=0xfffffffffffff000+0x2000"),
            ),
        ] {
            assert_eq!(parse(line), Err(err), "{line}");
        }
        assert_eq!(parse(&"irq=1 ".repeat(9)), Err(ManifestError::TooMany));
    }
}
