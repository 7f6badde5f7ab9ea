//! What the boot loader told us, in a boot-protocol-neutral form.
//!
//! The x86_64 path fills this from multiboot2 (see [`crate::multiboot`]); the
//! aarch64 UEFI path will fill it from the UEFI memory map and the device
//! tree. It lives in fixed-capacity arrays because it is built before the
//! kernel has a heap.

use arrayvec::{ArrayString, ArrayVec};
use core::fmt;

/// Most memory-map entries kept; firmware maps beyond this are truncated with
/// a [`BootWarning::MemoryMapTruncated`].
pub const MAX_MEMORY_REGIONS: usize = 128;
/// Most boot modules kept.
pub const MAX_MODULES: usize = 16;
/// Longest kernel command line kept, in bytes; longer ones are cut at a
/// character boundary with [`BootWarning::CommandLineTruncated`].
pub const MAX_COMMAND_LINE: usize = 4096;
/// Longest boot-loader or module name kept, in bytes.
pub const MAX_NAME: usize = 64;
/// Most warnings recorded; later ones are counted but dropped.
pub const MAX_WARNINGS: usize = 16;

/// What a physical memory range may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM the kernel may allocate.
    Usable,
    /// Firmware or device memory; never touched.
    Reserved,
    /// RAM holding ACPI tables; reclaimable once they are parsed.
    AcpiReclaimable,
    /// ACPI non-volatile storage; preserved across sleep.
    AcpiNvs,
    /// RAM the firmware reported as broken.
    Defective,
}

/// One physical memory range from the firmware's map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First byte of the range.
    pub start: u64,
    /// Length in bytes (never zero in a parsed map).
    pub len: u64,
    /// What the range is.
    pub kind: MemoryKind,
}

impl MemoryRegion {
    /// One past the last byte, saturating at `u64::MAX` so a bogus firmware
    /// entry cannot wrap around.
    pub const fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// A file the boot loader loaded next to the kernel (an environment's ELF
/// image, for instance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootModule {
    /// Physical address of the first byte.
    pub start: u64,
    /// Physical address one past the last byte.
    pub end: u64,
    /// The module's command line (by convention its name).
    pub name: ArrayString<MAX_NAME>,
}

/// Where the ACPI tables start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiRoot {
    /// ACPI revision from the RSDP: 0 means ACPI 1.0 and an RSDT with 32-bit
    /// entries; 2 or more means an XSDT with 64-bit entries.
    pub revision: u8,
    /// Physical address of the RSDT (revision 0) or XSDT.
    pub sdt_address: u64,
}

/// Something odd about the boot information that the kernel survives but
/// must report on the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootWarning {
    /// The boot loader passed no command line tag.
    NoCommandLine,
    /// The command line was not valid UTF-8 and was ignored.
    CommandLineNotUtf8,
    /// The command line was longer than [`MAX_COMMAND_LINE`] bytes.
    CommandLineTruncated {
        /// Its length as given.
        original_len: usize,
    },
    /// The memory map had more than [`MAX_MEMORY_REGIONS`] entries.
    MemoryMapTruncated {
        /// How many entries the firmware gave.
        entries: usize,
    },
    /// A memory-map entry had zero length or wrapped past 2^64; it was dropped.
    BogusMemoryRegion {
        /// The entry's start address.
        start: u64,
    },
    /// No ACPI RSDP tag: no MADT, so no IO-APIC or HPET discovery.
    NoAcpi,
    /// The RSDP copy in the boot information failed its checksum; it is used
    /// anyway, as firmware bugs here are common.
    AcpiChecksum,
    /// More than [`MAX_MODULES`] modules; the rest are ignored.
    TooManyModules,
    /// A module's end lies before its start; it was ignored.
    BogusModule {
        /// The module's start address.
        start: u64,
    },
}

impl fmt::Display for BootWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCommandLine => write!(f, "no command line tag"),
            Self::CommandLineNotUtf8 => write!(f, "command line is not UTF-8; ignored"),
            Self::CommandLineTruncated { original_len } => write!(
                f,
                "command line of {original_len} bytes truncated to {MAX_COMMAND_LINE}"
            ),
            Self::MemoryMapTruncated { entries } => write!(
                f,
                "memory map has {entries} entries; only the first {MAX_MEMORY_REGIONS} are used"
            ),
            Self::BogusMemoryRegion { start } => {
                write!(
                    f,
                    "memory map entry at {start:#x} is empty or wraps; dropped"
                )
            }
            Self::NoAcpi => write!(f, "no ACPI RSDP: interrupt controllers from defaults only"),
            Self::AcpiChecksum => write!(f, "ACPI RSDP checksum is wrong; using it anyway"),
            Self::TooManyModules => write!(f, "more than {MAX_MODULES} boot modules; rest ignored"),
            Self::BogusModule { start } => {
                write!(
                    f,
                    "boot module at {start:#x} ends before it starts; ignored"
                )
            }
        }
    }
}

/// Everything the kernel learns from the boot loader.
#[derive(Clone, Debug, Default)]
pub struct BootInfo {
    /// Physical range occupied by the boot information itself, which the
    /// frame allocator must not hand out while the kernel still reads it.
    pub info_range: (u64, u64),
    /// The kernel command line (empty when there was none).
    pub command_line: ArrayString<MAX_COMMAND_LINE>,
    /// The boot loader's name, e.g. `GRUB 2.06`.
    pub boot_loader: ArrayString<MAX_NAME>,
    /// The firmware memory map, in firmware order, bogus entries removed.
    pub memory: ArrayVec<MemoryRegion, MAX_MEMORY_REGIONS>,
    /// Boot modules.
    pub modules: ArrayVec<BootModule, MAX_MODULES>,
    /// ACPI root, if the boot loader found one.
    pub acpi: Option<AcpiRoot>,
    /// Oddities to report.
    pub warnings: ArrayVec<BootWarning, MAX_WARNINGS>,
    /// Warnings that did not fit in `warnings`.
    pub dropped_warnings: usize,
}

impl BootInfo {
    /// Records a warning, counting it if the list is full.
    pub fn warn(&mut self, warning: BootWarning) {
        if self.warnings.try_push(warning).is_err() {
            self.dropped_warnings += 1;
        }
    }

    /// Total bytes of usable RAM in the map.
    pub fn usable_bytes(&self) -> u64 {
        self.memory
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
            .map(|r| r.len)
            .sum()
    }

    /// Stores `line` as the command line, cutting it at the last character
    /// boundary within [`MAX_COMMAND_LINE`] bytes and warning if it had to.
    pub fn set_command_line(&mut self, line: &str) {
        let mut cut = line.len().min(MAX_COMMAND_LINE);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut < line.len() {
            self.warn(BootWarning::CommandLineTruncated {
                original_len: line.len(),
            });
        }
        self.command_line.clear();
        // Cannot fail: `cut` is within capacity.
        let _ = self.command_line.try_push_str(&line[..cut]);
    }
}

/// Copies at most `N` bytes of `s`, cut at a character boundary.
pub(crate) fn truncated_name<const N: usize>(s: &str) -> ArrayString<N> {
    let mut cut = s.len().min(N);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = ArrayString::new();
    let _ = out.try_push_str(&s[..cut]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn long_command_line_is_cut_at_a_char_boundary() {
        let mut info = BootInfo::default();
        let mut line = String::from("a");
        while line.len() < 10 * 1024 {
            line.push('é');
        }
        info.set_command_line(&line);
        assert!(info.command_line.len() <= MAX_COMMAND_LINE);
        assert!(info.command_line.len() >= MAX_COMMAND_LINE - 1);
        assert_eq!(
            info.warnings.as_slice(),
            &[BootWarning::CommandLineTruncated {
                original_len: line.len()
            }]
        );
    }

    #[test]
    fn warnings_overflow_is_counted() {
        let mut info = BootInfo::default();
        for _ in 0..MAX_WARNINGS + 3 {
            info.warn(BootWarning::NoAcpi);
        }
        assert_eq!(info.warnings.len(), MAX_WARNINGS);
        assert_eq!(info.dropped_warnings, 3);
    }

    #[test]
    fn region_end_saturates() {
        let r = MemoryRegion {
            start: u64::MAX - 1,
            len: 10,
            kind: MemoryKind::Usable,
        };
        assert_eq!(r.end(), u64::MAX);
    }
}
