//! The kernel image's own layout, read from the PE/COFF headers the UEFI
//! loader left at the start of the loaded image (or, for the raw arm64
//! `Image`, given by its linker script's symbols), for W^X.
//!
//! The image is a PE32+ UEFI application linked by `lld-link` with 4 KiB
//! section alignment, so every section starts on its own page: `.text`
//! (execute/read), `.rdata` (read), `.data` (read/write, with `.bss` as
//! its uninitialised tail: the kernel stack and the page tables live
//! there) and `.reloc` (read). Pages no section covers (the headers) are
//! read-only.
//!
//! Pure computation, so it is tested on the host.

use arrayvec::ArrayVec;
use core::fmt;

/// Pages are 4 KiB.
pub const PAGE: u64 = 4096;
/// Most sections looked at.
pub const MAX_SECTIONS: usize = 16;

const IMAGE_SCN_MEM_EXECUTE: u32 = 0x2000_0000;
const IMAGE_SCN_MEM_WRITE: u32 = 0x8000_0000;
const PE32_PLUS: u16 = 0x20b;

/// What a page of the image may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and execute (code): read-only, executable at EL1.
    Execute,
    /// Read only (constants, relocations, headers), never executable.
    ReadOnly,
    /// Read and write (data, bss, the stack), never executable.
    ReadWrite,
}

/// One section, in absolute (identity-mapped) addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// The section name (NUL-padded, as in the header).
    pub name: [u8; 8],
    /// First byte.
    pub start: u64,
    /// One past the last byte, rounded up to a page.
    pub end: u64,
    /// How it is mapped.
    pub access: Access,
}

impl Section {
    /// The name as text.
    #[must_use]
    pub fn name(&self) -> &str {
        name_of(&self.name)
    }
}

/// Why the headers cannot be used for W^X.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The bytes are not a PE32+ image.
    NotPe,
    /// Sections are not page-aligned (`SectionAlignment`), or the base is
    /// not.
    NotPageAligned(u64),
    /// A section is both writable and executable.
    WritableCode([u8; 8]),
    /// A section lies outside `SizeOfImage`.
    OutOfImage([u8; 8]),
    /// More than [`MAX_SECTIONS`] sections.
    TooManySections(u16),
}

fn name_of(name: &[u8; 8]) -> &str {
    let len = name.iter().position(|&b| b == 0).unwrap_or(8);
    core::str::from_utf8(&name[..len]).unwrap_or("?")
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = name_of;
        match self {
            Self::NotPe => write!(f, "no PE32+ headers at the image base"),
            Self::NotPageAligned(a) => write!(f, "sections aligned to {a:#x}, not 4 KiB"),
            Self::WritableCode(n) => write!(f, "section {} is writable and executable", name(n)),
            Self::OutOfImage(n) => write!(f, "section {} lies outside the image", name(n)),
            Self::TooManySections(n) => write!(f, "{n} sections"),
        }
    }
}

/// The loaded image's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// First byte (the headers).
    pub base: u64,
    /// One past the last byte (`SizeOfImage`, page-rounded).
    pub end: u64,
    /// The sections, in header order.
    pub sections: ArrayVec<Section, MAX_SECTIONS>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl ImageLayout {
    /// Reads the layout from `headers` (the first bytes of the loaded
    /// image, `SizeOfHeaders` or more), which the loader placed at `base`.
    ///
    /// # Errors
    /// See [`ImageError`].
    pub fn parse(headers: &[u8], base: u64) -> Result<Self, ImageError> {
        if headers.get(..2) != Some(b"MZ") {
            return Err(ImageError::NotPe);
        }
        let pe = u32_at(headers, 0x3c).ok_or(ImageError::NotPe)? as usize;
        if headers.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err(ImageError::NotPe);
        }
        let count = u16_at(headers, pe + 6).ok_or(ImageError::NotPe)?;
        let optional_size = usize::from(u16_at(headers, pe + 20).ok_or(ImageError::NotPe)?);
        let optional = pe + 24;
        if u16_at(headers, optional) != Some(PE32_PLUS) {
            return Err(ImageError::NotPe);
        }
        let alignment = u64::from(u32_at(headers, optional + 32).ok_or(ImageError::NotPe)?);
        if alignment == 0 || !alignment.is_multiple_of(PAGE) {
            return Err(ImageError::NotPageAligned(alignment));
        }
        if !base.is_multiple_of(PAGE) {
            return Err(ImageError::NotPageAligned(base));
        }
        let size = u64::from(u32_at(headers, optional + 56).ok_or(ImageError::NotPe)?);
        if usize::from(count) > MAX_SECTIONS {
            return Err(ImageError::TooManySections(count));
        }
        let end = base + size.next_multiple_of(PAGE);
        let mut sections = ArrayVec::new();
        let table = optional + optional_size;
        for i in 0..usize::from(count) {
            let at = table + 40 * i;
            let mut name = [0u8; 8];
            name.copy_from_slice(headers.get(at..at + 8).ok_or(ImageError::NotPe)?);
            let virtual_size = u64::from(u32_at(headers, at + 8).ok_or(ImageError::NotPe)?);
            let rva = u64::from(u32_at(headers, at + 12).ok_or(ImageError::NotPe)?);
            let raw_size = u64::from(u32_at(headers, at + 16).ok_or(ImageError::NotPe)?);
            let flags = u32_at(headers, at + 36).ok_or(ImageError::NotPe)?;
            let access = match (
                flags & IMAGE_SCN_MEM_EXECUTE != 0,
                flags & IMAGE_SCN_MEM_WRITE != 0,
            ) {
                (true, true) => return Err(ImageError::WritableCode(name)),
                (true, false) => Access::Execute,
                (false, true) => Access::ReadWrite,
                (false, false) => Access::ReadOnly,
            };
            if !rva.is_multiple_of(PAGE) {
                return Err(ImageError::NotPageAligned(rva));
            }
            let start = base + rva;
            let len = virtual_size.max(raw_size).next_multiple_of(PAGE);
            if start < base + PAGE.min(size) || start + len > end {
                return Err(ImageError::OutOfImage(name));
            }
            sections.push(Section {
                name,
                start,
                end: start + len,
                access,
            });
        }
        Ok(Self {
            base,
            end,
            sections,
        })
    }

    /// The layout of an image without headers (the raw arm64 `Image`),
    /// from its section boundaries as the linker script defines them:
    /// `(name, start, end, access)` each, inside `base..end`.
    ///
    /// # Errors
    /// [`ImageError::NotPageAligned`] for a boundary off a page,
    /// [`ImageError::OutOfImage`] for a section outside the image or
    /// ending before it starts, [`ImageError::TooManySections`].
    pub fn from_sections(
        base: u64,
        end: u64,
        sections: &[([u8; 8], u64, u64, Access)],
    ) -> Result<Self, ImageError> {
        if sections.len() > MAX_SECTIONS {
            return Err(ImageError::TooManySections(
                u16::try_from(sections.len()).unwrap_or(u16::MAX),
            ));
        }
        let mut out = ArrayVec::new();
        for &(name, start, stop, access) in sections {
            if let Some(&a) = [base, end, start, stop]
                .iter()
                .find(|a| !a.is_multiple_of(PAGE))
            {
                return Err(ImageError::NotPageAligned(a));
            }
            if start < base || stop > end || stop < start {
                return Err(ImageError::OutOfImage(name));
            }
            out.push(Section {
                name,
                start,
                end: stop,
                access,
            });
        }
        Ok(Self {
            base,
            end,
            sections: out,
        })
    }

    /// How the page at `address` is mapped (headers and gaps: read-only).
    #[must_use]
    pub fn access(&self, address: u64) -> Access {
        self.sections
            .iter()
            .find(|s| (s.start..s.end).contains(&address))
            .map_or(Access::ReadOnly, |s| s.access)
    }

    /// The executable range: from the first executable section's start to
    /// the last one's end (`None` without code).
    #[must_use]
    pub fn text(&self) -> Option<(u64, u64)> {
        let mut code = self.sections.iter().filter(|s| s.access == Access::Execute);
        let first = code.next()?;
        Some(code.fold((first.start, first.end), |(s, e), c| {
            (s.min(c.start), e.max(c.end))
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec::Vec;

    /// A PE32+ header block like the kernel's: `.text` RX, `.rdata` R,
    /// `.data` RW (with a bss tail), `.reloc` R.
    pub(crate) fn kernel_like_headers(sections: &[(&[u8], u32, u32, u32, u32)]) -> Vec<u8> {
        let mut h = std::vec![0u8; 0x400];
        h[..2].copy_from_slice(b"MZ");
        let pe = 0x80usize;
        h[0x3c..0x40].copy_from_slice(&(pe as u32).to_le_bytes());
        h[pe..pe + 4].copy_from_slice(b"PE\0\0");
        h[pe + 4..pe + 6].copy_from_slice(&0xaa64u16.to_le_bytes());
        h[pe + 6..pe + 8].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        let optional_size = 0xf0u16;
        h[pe + 20..pe + 22].copy_from_slice(&optional_size.to_le_bytes());
        let opt = pe + 24;
        h[opt..opt + 2].copy_from_slice(&PE32_PLUS.to_le_bytes());
        h[opt + 32..opt + 36].copy_from_slice(&0x1000u32.to_le_bytes());
        h[opt + 56..opt + 60].copy_from_slice(&0x81000u32.to_le_bytes());
        let table = opt + usize::from(optional_size);
        for (i, (name, vsize, rva, raw, flags)) in sections.iter().enumerate() {
            let at = table + 40 * i;
            h[at..at + name.len()].copy_from_slice(name);
            h[at + 8..at + 12].copy_from_slice(&vsize.to_le_bytes());
            h[at + 12..at + 16].copy_from_slice(&rva.to_le_bytes());
            h[at + 16..at + 20].copy_from_slice(&raw.to_le_bytes());
            h[at + 36..at + 40].copy_from_slice(&flags.to_le_bytes());
        }
        h
    }

    pub(crate) const KERNEL_SECTIONS: &[(&[u8], u32, u32, u32, u32)] = &[
        (b".text", 0x291c4, 0x1000, 0x29200, 0x6000_0020),
        (b".rdata", 0x674c, 0x2b000, 0x6800, 0x4000_0040),
        (b".data", 0x4d5f8, 0x32000, 0x200, 0xc000_0040),
        (b".reloc", 0x250, 0x80000, 0x400, 0x4200_0040),
    ];

    #[test]
    fn the_kernel_layout_parses() {
        let h = kernel_like_headers(KERNEL_SECTIONS);
        let base = 0x4f00_0000;
        let layout = ImageLayout::parse(&h, base).expect("parses");
        assert_eq!(layout.end, base + 0x81000);
        assert_eq!(layout.sections.len(), 4);
        assert_eq!(layout.sections[0].name(), ".text");
        assert_eq!(layout.text(), Some((base + 0x1000, base + 0x2b000)));
        assert_eq!(layout.access(base), Access::ReadOnly, "headers");
        assert_eq!(layout.access(base + 0x1000), Access::Execute);
        assert_eq!(layout.access(base + 0x2afff), Access::Execute);
        assert_eq!(layout.access(base + 0x2b000), Access::ReadOnly);
        assert_eq!(layout.access(base + 0x32000), Access::ReadWrite);
        assert_eq!(layout.access(base + 0x7f000), Access::ReadWrite, "bss tail");
        assert_eq!(layout.access(base + 0x80000), Access::ReadOnly);
    }

    #[test]
    fn writable_code_and_misalignment_are_refused() {
        let mut bad = KERNEL_SECTIONS.to_vec();
        bad[0].4 |= IMAGE_SCN_MEM_WRITE;
        let h = kernel_like_headers(&bad);
        assert!(matches!(
            ImageLayout::parse(&h, 0x4000_0000),
            Err(ImageError::WritableCode(_))
        ));
        let h = kernel_like_headers(KERNEL_SECTIONS);
        assert_eq!(
            ImageLayout::parse(&h, 0x4000_0800),
            Err(ImageError::NotPageAligned(0x4000_0800))
        );
        let mut odd = KERNEL_SECTIONS.to_vec();
        odd[1].2 = 0x2b200;
        let h = kernel_like_headers(&odd);
        assert_eq!(
            ImageLayout::parse(&h, 0x4000_0000),
            Err(ImageError::NotPageAligned(0x2b200))
        );
        let mut outside = KERNEL_SECTIONS.to_vec();
        outside[3].2 = 0x81000;
        let h = kernel_like_headers(&outside);
        assert!(matches!(
            ImageLayout::parse(&h, 0x4000_0000),
            Err(ImageError::OutOfImage(_))
        ));
    }

    #[test]
    fn linker_script_sections_make_a_layout() {
        let l = ImageLayout::from_sections(
            0x8_0000,
            0x9_0000,
            &[
                (*b".text\0\0\0", 0x8_0000, 0x8_8000, Access::Execute),
                (*b".rodata\0", 0x8_8000, 0x8_a000, Access::ReadOnly),
                (*b".data\0\0\0", 0x8_a000, 0x9_0000, Access::ReadWrite),
            ],
        )
        .unwrap();
        assert_eq!(l.text(), Some((0x8_0000, 0x8_8000)));
        assert_eq!(l.access(0x8_9000), Access::ReadOnly);
        assert_eq!(l.access(0x8_f000), Access::ReadWrite);
        assert_eq!(l.sections[1].name(), ".rodata");
        let text = (*b".text\0\0\0", 0x8_0000, 0x8_8001, Access::Execute);
        assert_eq!(
            ImageLayout::from_sections(0x8_0000, 0x9_0000, &[text]),
            Err(ImageError::NotPageAligned(0x8_8001))
        );
        let outside = (*b".data\0\0\0", 0x8_0000, 0xa_0000, Access::ReadWrite);
        assert!(matches!(
            ImageLayout::from_sections(0x8_0000, 0x9_0000, &[outside]),
            Err(ImageError::OutOfImage(_))
        ));
    }

    #[test]
    fn garbage_is_not_pe() {
        assert_eq!(ImageLayout::parse(&[0; 64], 0), Err(ImageError::NotPe));
        let mut h = kernel_like_headers(KERNEL_SECTIONS);
        h[0x80] = b'X';
        assert_eq!(ImageLayout::parse(&h, 0), Err(ImageError::NotPe));
        let h = kernel_like_headers(KERNEL_SECTIONS);
        for len in [0, 2, 0x3c, 0x84, 0x9a, 0x180] {
            assert_eq!(
                ImageLayout::parse(&h[..len], 0),
                Err(ImageError::NotPe),
                "{len}"
            );
        }
    }
}
