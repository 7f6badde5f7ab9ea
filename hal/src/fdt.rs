//! Flattened device trees: checked here before the `fdt` crate reads them.
//!
//! The `fdt` crate (0.1) walks the structure block with `unwrap`s and
//! `assert`s: a truncated block, a property running past the end, a
//! `#address-cells` shorter than four bytes or a NOP token between two
//! properties makes it panic. A device tree comes from firmware, so, as with
//! multiboot2 tags, [`check`] walks the whole blob first with bounds-checked
//! code and hands it over only when every token is well formed. Blobs that
//! are valid but carry NOP tokens (firmware deletes nodes by overwriting
//! them with NOPs) are first rewritten without them by [`compact_into`].
//!
//! Nothing here allocates; every error is a typed [`FdtError`].

use core::fmt;

/// The magic number at offset 0 of every flattened device tree.
pub const MAGIC: u32 = 0xd00d_feed;
/// Size of the version-17 header.
pub const HEADER_SIZE: usize = 40;
/// Largest blob accepted (QEMU's is 1 MiB, a Raspberry Pi's ~100 KiB).
pub const MAX_TOTAL_SIZE: usize = 16 << 20;
/// Deepest node nesting accepted (the root is depth 1). The `fdt` crate
/// keeps 64 ancestors; real trees nest fewer than ten levels.
pub const MAX_DEPTH: usize = 32;

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// What is wrong inside the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureProblem {
    /// A token that is none of BEGIN_NODE, END_NODE, PROP, NOP, END.
    UnknownToken(u32),
    /// The block ends before the END token.
    MissingEnd,
    /// A node name has no terminating NUL inside the block.
    UnterminatedName,
    /// A node or property name is not UTF-8.
    NotUtf8,
    /// A property's value runs past the end of the block.
    PropertyOverrun {
        /// The value's length as given.
        len: u32,
    },
    /// A property name offset lies outside the strings block (or its name
    /// has no NUL there).
    BadNameOffset(u32),
    /// A property outside any node, or after the node's first child.
    MisplacedProperty,
    /// More END_NODE tokens than BEGIN_NODE ones.
    UnbalancedEnd,
    /// Nodes nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// The root node has a name, or there is a second root.
    BadRoot,
    /// No root node at all.
    NoRoot,
    /// `#address-cells`, `#size-cells` or `#interrupt-cells` is not one
    /// 4-byte cell.
    BadCellCount,
    /// A NOP token: valid, but the blob must go through [`compact_into`].
    Nop,
}

impl fmt::Display for StructureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownToken(t) => write!(f, "unknown token {t:#x}"),
            Self::MissingEnd => write!(f, "block ends before the END token"),
            Self::UnterminatedName => write!(f, "node name without NUL"),
            Self::NotUtf8 => write!(f, "name is not UTF-8"),
            Self::PropertyOverrun { len } => {
                write!(f, "property of {len} bytes runs past the block")
            }
            Self::BadNameOffset(o) => {
                write!(f, "property name offset {o:#x} is outside the strings")
            }
            Self::MisplacedProperty => write!(f, "property outside a node or after a child node"),
            Self::UnbalancedEnd => write!(f, "END_NODE without a node"),
            Self::TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}"),
            Self::BadRoot => write!(f, "root node named, or two roots"),
            Self::NoRoot => write!(f, "no root node"),
            Self::BadCellCount => write!(f, "a #...-cells property is not one cell"),
            Self::Nop => write!(f, "NOP token (blob needs compacting)"),
        }
    }
}

/// Why a blob was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// Fewer bytes than a header.
    TooShort {
        /// Bytes available.
        len: usize,
    },
    /// The first word is not [`MAGIC`].
    BadMagic {
        /// What was there.
        found: u32,
    },
    /// The header's total size is more than the bytes available.
    Truncated {
        /// `totalsize` from the header.
        total_size: u32,
        /// Bytes actually there.
        available: usize,
    },
    /// The header's total size is below the header or above
    /// [`MAX_TOTAL_SIZE`].
    BadTotalSize(u32),
    /// A version before 17, or a blob not readable by a version-17 reader.
    UnsupportedVersion {
        /// `version` from the header.
        version: u32,
        /// `last_comp_version` from the header.
        last_compatible: u32,
    },
    /// A block (`"structure"`, `"strings"`, `"memory reservations"`) lies
    /// outside the blob or is misaligned.
    BadBlock(&'static str),
    /// The structure block is malformed at `offset` (from its start).
    Structure {
        /// Byte offset inside the structure block.
        offset: usize,
        /// What is wrong there.
        problem: StructureProblem,
    },
    /// [`compact_into`] was given a buffer smaller than the compacted blob.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => {
                write!(f, "device tree of {len} bytes is shorter than its header")
            }
            Self::BadMagic { found } => write!(f, "bad device-tree magic {found:#010x}"),
            Self::Truncated {
                total_size,
                available,
            } => write!(
                f,
                "device tree truncated: header says {total_size} bytes, {available} available"
            ),
            Self::BadTotalSize(size) => write!(f, "device-tree total size {size} is implausible"),
            Self::UnsupportedVersion {
                version,
                last_compatible,
            } => write!(
                f,
                "device-tree version {version} (compatible with {last_compatible}) is not supported"
            ),
            Self::BadBlock(block) => write!(f, "device-tree {block} block out of bounds"),
            Self::Structure { offset, problem } => {
                write!(f, "device-tree structure block at +{offset:#x}: {problem}")
            }
            Self::BufferTooSmall { needed } => {
                write!(f, "{needed} bytes needed to compact the device tree")
            }
        }
    }
}

/// The header fields the checks use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes in the whole blob.
    pub total_size: usize,
    /// Structure block offset.
    pub struct_offset: usize,
    /// Structure block size.
    pub struct_size: usize,
    /// Strings block offset.
    pub strings_offset: usize,
    /// Strings block size.
    pub strings_size: usize,
    /// Memory-reservation block offset.
    pub reservations_offset: usize,
    /// Format version.
    pub version: u32,
    /// Physical id of the boot CPU.
    pub boot_cpu: u32,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Reads the total size from the first eight bytes, for callers that hold a
/// pointer and must decide how many bytes to look at.
///
/// # Errors
/// [`FdtError::TooShort`], [`FdtError::BadMagic`] or
/// [`FdtError::BadTotalSize`].
pub fn total_size(first_bytes: &[u8]) -> Result<usize, FdtError> {
    let magic = be32(first_bytes, 0).ok_or(FdtError::TooShort {
        len: first_bytes.len(),
    })?;
    if magic != MAGIC {
        return Err(FdtError::BadMagic { found: magic });
    }
    let size = be32(first_bytes, 4).ok_or(FdtError::TooShort {
        len: first_bytes.len(),
    })?;
    if (size as usize) < HEADER_SIZE || size as usize > MAX_TOTAL_SIZE {
        return Err(FdtError::BadTotalSize(size));
    }
    Ok(size as usize)
}

/// Parses and bounds-checks the header.
///
/// # Errors
/// Any header-level [`FdtError`].
pub fn header(bytes: &[u8]) -> Result<Header, FdtError> {
    if bytes.len() < HEADER_SIZE {
        return Err(FdtError::TooShort { len: bytes.len() });
    }
    let total = total_size(bytes)?;
    if total > bytes.len() {
        return Err(FdtError::Truncated {
            total_size: total as u32,
            available: bytes.len(),
        });
    }
    let field = |i: usize| be32(bytes, i * 4).unwrap_or(0) as usize;
    let header = Header {
        total_size: total,
        struct_offset: field(2),
        strings_offset: field(3),
        reservations_offset: field(4),
        version: field(5) as u32,
        boot_cpu: field(7) as u32,
        strings_size: field(8),
        struct_size: field(9),
    };
    let last_compatible = field(6) as u32;
    if header.version < 17 || last_compatible > 17 {
        return Err(FdtError::UnsupportedVersion {
            version: header.version,
            last_compatible,
        });
    }
    let inside = |offset: usize, size: usize| {
        offset >= HEADER_SIZE && offset.checked_add(size).is_some_and(|end| end <= total)
    };
    if !inside(header.struct_offset, header.struct_size)
        || !header.struct_offset.is_multiple_of(4)
        || !header.struct_size.is_multiple_of(4)
    {
        return Err(FdtError::BadBlock("structure"));
    }
    if !inside(header.strings_offset, header.strings_size) {
        return Err(FdtError::BadBlock("strings"));
    }
    if !inside(header.reservations_offset, 16) || !header.reservations_offset.is_multiple_of(8) {
        return Err(FdtError::BadBlock("memory reservations"));
    }
    // The reservation list must end with a zero entry inside the blob.
    let mut at = header.reservations_offset;
    loop {
        let (Some(a), Some(b), Some(c), Some(d)) = (
            be32(bytes, at),
            be32(bytes, at + 4),
            be32(bytes, at + 8),
            be32(bytes, at + 12),
        ) else {
            return Err(FdtError::BadBlock("memory reservations"));
        };
        if at + 16 > total {
            return Err(FdtError::BadBlock("memory reservations"));
        }
        if a | b | c | d == 0 {
            break;
        }
        at += 16;
    }
    Ok(header)
}

/// What [`check`] found in a well-formed structure block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Nodes, the root included.
    pub nodes: usize,
    /// Properties.
    pub properties: usize,
    /// NOP tokens.
    pub nops: usize,
    /// Bytes of the structure block up to and including END.
    pub used: usize,
}

/// Walks every token of the structure block, calling `emit` with each
/// non-NOP token's bytes (for [`compact_into`]).
fn walk(bytes: &[u8], h: &Header, mut emit: impl FnMut(&[u8])) -> Result<Census, FdtError> {
    let block = &bytes[h.struct_offset..h.struct_offset + h.struct_size];
    let strings = &bytes[h.strings_offset..h.strings_offset + h.strings_size];
    let fail = |offset, problem| Err(FdtError::Structure { offset, problem });
    let mut census = Census::default();
    let mut at = 0;
    let mut depth = 0usize;
    // Whether the innermost open node has had a child yet.
    let mut had_child = [false; MAX_DEPTH + 1];
    let mut roots = 0;
    loop {
        let Some(token) = be32(block, at) else {
            return fail(at, StructureProblem::MissingEnd);
        };
        let start = at;
        match token {
            BEGIN_NODE => {
                let name_start = at + 4;
                let Some(len) = block
                    .get(name_start..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0))
                else {
                    return fail(at, StructureProblem::UnterminatedName);
                };
                let name = &block[name_start..name_start + len];
                if core::str::from_utf8(name).is_err() {
                    return fail(at, StructureProblem::NotUtf8);
                }
                if depth == 0 {
                    roots += 1;
                    if roots > 1 || !name.is_empty() {
                        return fail(at, StructureProblem::BadRoot);
                    }
                } else {
                    had_child[depth] = true;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return fail(at, StructureProblem::TooDeep);
                }
                had_child[depth] = false;
                census.nodes += 1;
                at = align4(name_start + len + 1);
            }
            END_NODE => {
                if depth == 0 {
                    return fail(at, StructureProblem::UnbalancedEnd);
                }
                depth -= 1;
                at += 4;
            }
            PROP => {
                let (Some(len), Some(name_offset)) = (be32(block, at + 4), be32(block, at + 8))
                else {
                    return fail(at, StructureProblem::MissingEnd);
                };
                if depth == 0 || had_child[depth] {
                    return fail(at, StructureProblem::MisplacedProperty);
                }
                let value_start = at + 12;
                let Some(value_end) = value_start
                    .checked_add(len as usize)
                    .filter(|&end| end <= block.len())
                else {
                    return fail(at, StructureProblem::PropertyOverrun { len });
                };
                let Some(name_len) = strings
                    .get(name_offset as usize..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0))
                else {
                    return fail(at, StructureProblem::BadNameOffset(name_offset));
                };
                let name = &strings[name_offset as usize..name_offset as usize + name_len];
                let Ok(name) = core::str::from_utf8(name) else {
                    return fail(at, StructureProblem::NotUtf8);
                };
                if matches!(name, "#address-cells" | "#size-cells" | "#interrupt-cells") && len != 4
                {
                    return fail(at, StructureProblem::BadCellCount);
                }
                census.properties += 1;
                at = align4(value_end);
            }
            NOP => {
                census.nops += 1;
                at += 4;
                continue;
            }
            END => {
                if depth != 0 {
                    return fail(at, StructureProblem::MissingEnd);
                }
                if roots == 0 {
                    return fail(at, StructureProblem::NoRoot);
                }
                emit(&block[at..at + 4]);
                census.used = at + 4;
                return Ok(census);
            }
            other => return fail(at, StructureProblem::UnknownToken(other)),
        }
        if at > block.len() {
            return fail(start, StructureProblem::MissingEnd);
        }
        emit(&block[start..at]);
    }
}

/// Checks the whole blob: header, blocks, every structure token.
///
/// # Errors
/// The first problem found, including [`StructureProblem::Nop`] when the
/// blob is valid but has NOP tokens (see [`compact_into`]).
pub fn check(bytes: &[u8]) -> Result<Census, FdtError> {
    let h = header(bytes)?;
    let census = walk(bytes, &h, |_| {})?;
    if census.nops > 0 {
        return Err(FdtError::Structure {
            offset: 0,
            problem: StructureProblem::Nop,
        });
    }
    Ok(census)
}

/// Writes a copy of `bytes` without NOP tokens or trailing free space into
/// `out`, returning its length. The result passes [`check`].
///
/// # Errors
/// Whatever makes the blob invalid, or [`FdtError::BufferTooSmall`].
pub fn compact_into(bytes: &[u8], out: &mut [u8]) -> Result<usize, FdtError> {
    let h = header(bytes)?;
    let census = walk(bytes, &h, |_| {})?;
    let reservations_len = {
        let mut at = h.reservations_offset;
        while be32(bytes, at).unwrap_or(0)
            | be32(bytes, at + 4).unwrap_or(0)
            | be32(bytes, at + 8).unwrap_or(0)
            | be32(bytes, at + 12).unwrap_or(0)
            != 0
        {
            at += 16;
        }
        at + 16 - h.reservations_offset
    };
    let struct_len = census.used - census.nops * 4;
    let reservations_at = HEADER_SIZE.next_multiple_of(8);
    let struct_at = reservations_at + reservations_len;
    let strings_at = struct_at + struct_len;
    let needed = strings_at + h.strings_size;
    if out.len() < needed {
        return Err(FdtError::BufferTooSmall { needed });
    }
    out[..HEADER_SIZE].copy_from_slice(&bytes[..HEADER_SIZE]);
    out[HEADER_SIZE..reservations_at].fill(0);
    out[reservations_at..struct_at]
        .copy_from_slice(&bytes[h.reservations_offset..h.reservations_offset + reservations_len]);
    let mut cursor = struct_at;
    walk(bytes, &h, |token| {
        out[cursor..cursor + token.len()].copy_from_slice(token);
        cursor += token.len();
    })?;
    out[strings_at..needed]
        .copy_from_slice(&bytes[h.strings_offset..h.strings_offset + h.strings_size]);
    let mut put = |index: usize, value: usize| {
        out[index * 4..index * 4 + 4].copy_from_slice(&(value as u32).to_be_bytes());
    };
    put(1, needed);
    put(2, struct_at);
    put(3, strings_at);
    put(4, reservations_at);
    put(8, h.strings_size);
    put(9, struct_len);
    Ok(needed)
}

/// A checked blob, ready for the `fdt` crate.
///
/// # Errors
/// See [`check`].
pub fn open(bytes: &[u8]) -> Result<fdt::Fdt<'_>, FdtError> {
    check(bytes)?;
    fdt::Fdt::new(bytes).map_err(|_| FdtError::TooShort { len: bytes.len() })
}
