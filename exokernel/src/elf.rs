//! Validating an environment's ELF image before anything is mapped.
//!
//! The kernel only loads static executables for the machine it runs on:
//! 64-bit, little-endian, `ET_EXEC`, with `PT_LOAD` segments that lie in
//! user space, do not overlap, are never both writable and executable
//! (W^X), and whose file bytes are inside the image. Parsing uses the `elf`
//! crate (no allocation); every malformed input is a typed [`ElfError`].

use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::{ET_EXEC, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::file::Class;

/// Most `PT_LOAD` segments accepted.
pub const MAX_SEGMENTS: usize = 16;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The `elf` crate could not parse the headers.
    #[error("malformed ELF headers")]
    Malformed,
    /// Not a 64-bit image.
    #[error("not a 64-bit ELF image")]
    Not64Bit,
    /// Built for another machine.
    #[error("ELF machine {0} is not this CPU's")]
    WrongMachine(u16),
    /// Not a static executable (`ET_EXEC`).
    #[error("ELF type {0} is not a static executable")]
    NotExecutable(u16),
    /// No program headers, or no loadable segment.
    #[error("no loadable segments")]
    NoSegments,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    #[error("too many loadable segments")]
    TooManySegments,
    /// A segment lies (partly) outside user space or wraps around.
    #[error("segment at {0:#x} is outside user space")]
    OutsideUserSpace(u64),
    /// A segment's file bytes are not inside the image, or `filesz > memsz`.
    #[error("segment at {0:#x} has file bytes outside the image")]
    BadFileRange(u64),
    /// A segment is both writable and executable.
    #[error("segment at {0:#x} is writable and executable (W^X)")]
    WritableAndExecutable(u64),
    /// Two segments share a page.
    #[error("segments overlap at {0:#x}")]
    Overlap(u64),
    /// The entry point is not inside an executable segment.
    #[error("entry point {0:#x} is not in an executable segment")]
    BadEntry(u64),
}

/// One loadable segment, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First virtual address (may be unaligned).
    pub vaddr: u64,
    /// Bytes in memory (the tail past `file_len` is zero).
    pub mem_len: u64,
    /// Offset of the file bytes in the image.
    pub file_offset: u64,
    /// File bytes.
    pub file_len: u64,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl Segment {
    /// First page address.
    #[must_use]
    pub fn page_start(&self, page: u64) -> u64 {
        self.vaddr & !(page - 1)
    }

    /// One past the last page address.
    #[must_use]
    pub fn page_end(&self, page: u64) -> u64 {
        (self.vaddr + self.mem_len).next_multiple_of(page)
    }
}

/// A validated image: where to start and what to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Entry point.
    pub entry: u64,
    /// Loadable segments, sorted by address.
    pub segments: Vec<Segment>,
}

/// Validates `bytes` as a static executable for `machine` (an `EM_*`
/// value) whose segments fit in `[user_start, user_end)` with pages of
/// `page` bytes.
///
/// # Errors
/// Any [`ElfError`].
pub fn parse(
    bytes: &[u8],
    machine: u16,
    user_start: u64,
    user_end: u64,
    page: u64,
) -> Result<Image, ElfError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|_| ElfError::Malformed)?;
    if file.ehdr.class != Class::ELF64 {
        return Err(ElfError::Not64Bit);
    }
    if file.ehdr.e_machine != machine {
        return Err(ElfError::WrongMachine(file.ehdr.e_machine));
    }
    if file.ehdr.e_type != ET_EXEC {
        return Err(ElfError::NotExecutable(file.ehdr.e_type));
    }
    let table = file.segments().ok_or(ElfError::NoSegments)?;
    let mut segments = Vec::new();
    for ph in table.iter().filter(|ph| ph.p_type == PT_LOAD) {
        if segments.len() == MAX_SEGMENTS {
            return Err(ElfError::TooManySegments);
        }
        if ph.p_memsz == 0 {
            continue;
        }
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .and_then(|e| e.checked_next_multiple_of(page))
            .ok_or(ElfError::OutsideUserSpace(ph.p_vaddr))?;
        if ph.p_vaddr < user_start || end > user_end {
            return Err(ElfError::OutsideUserSpace(ph.p_vaddr));
        }
        let file_end = ph.p_offset.checked_add(ph.p_filesz);
        if ph.p_filesz > ph.p_memsz || file_end.is_none_or(|e| e > bytes.len() as u64) {
            return Err(ElfError::BadFileRange(ph.p_vaddr));
        }
        let write = ph.p_flags & PF_W != 0;
        let execute = ph.p_flags & PF_X != 0;
        if write && execute {
            return Err(ElfError::WritableAndExecutable(ph.p_vaddr));
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            mem_len: ph.p_memsz,
            file_offset: ph.p_offset,
            file_len: ph.p_filesz,
            write,
            execute,
        });
    }
    if segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    segments.sort_unstable_by_key(|s| s.vaddr);
    for pair in segments.windows(2) {
        if pair[0].page_end(page) > pair[1].page_start(page) {
            return Err(ElfError::Overlap(pair[1].vaddr));
        }
    }
    let entry = file.ehdr.e_entry;
    let in_code = segments
        .iter()
        .any(|s| s.execute && s.vaddr <= entry && entry < s.vaddr + s.mem_len);
    if !in_code {
        return Err(ElfError::BadEntry(entry));
    }
    Ok(Image { entry, segments })
}
