//! Loading programs from the relocatable objects `clang -target bpf`
//! produces.
//!
//! A program is the bytes of one named section. Maps are declared the
//! legacy way, as `struct bpf_map_def` values in a section named `maps`;
//! each becomes a map in the embedder's [`MapSet`], and every `lddw`
//! relocated against one (`R_BPF_64_64`) is rewritten into the map-fd
//! pseudo form naming its index. Calls between functions of the same
//! section need no relocation. Not supported yet (each is a typed error):
//! BTF-defined maps (`.maps`), global data sections, and calls into other
//! sections.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::SHT_REL;
use elf::endian::LittleEndian;
use elf::file::Class;

use crate::isa::INSN_SIZE;
use crate::maps::{ArrayMap, HashMap, MapError, MapKind, MapSet};

/// `EM_BPF`.
pub const EM_BPF: u16 = 247;
/// Relocation of a 64-bit immediate (`lddw`).
pub const R_BPF_64_64: u32 = 1;
/// Bytes of a legacy `struct bpf_map_def` read: type, key size, value
/// size, max entries, flags.
pub const MAP_DEF_SIZE: usize = 20;

/// Why an object could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The `elf` crate could not parse it.
    #[error("malformed ELF object")]
    Malformed,
    /// Not a 64-bit little-endian BPF object.
    #[error("not a 64-bit BPF object (machine {0})")]
    NotBpf(u16),
    /// No section of that name.
    #[error("no section named {0}")]
    NoSection(String),
    /// The program section is empty or not a whole number of slots.
    #[error("program section is not a whole number of instructions")]
    BadProgramSize,
    /// A map definition lies outside the `maps` section.
    #[error("map {0}: definition out of bounds")]
    BadMapDefinition(String),
    /// A map type this runtime lacks.
    #[error("map {name}: unsupported type {kind}")]
    UnsupportedMapType {
        /// Symbol name.
        name: String,
        /// `bpf_map_type`.
        kind: u32,
    },
    /// The map could not be created.
    #[error("map {name}: {error}")]
    Map {
        /// Symbol name.
        name: String,
        /// Why.
        error: MapError,
    },
    /// A relocation this loader does not handle, at a byte offset of the
    /// program section.
    #[error("unsupported relocation of type {kind} at offset {offset}")]
    UnsupportedRelocation {
        /// Byte offset in the section.
        offset: u64,
        /// Relocation type.
        kind: u32,
    },
    /// BTF-defined maps need BTF, which this loader does not parse.
    #[error("BTF-defined maps (.maps) are not supported; use a `maps` section")]
    BtfMaps,
}

/// A program taken from an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfProgram {
    /// Bytecode with map references resolved.
    pub code: Vec<u8>,
    /// The maps the object declared: symbol name and index in the
    /// [`MapSet`].
    pub maps: Vec<(String, u32)>,
}

fn malformed<T>(_: T) -> ElfError {
    ElfError::Malformed
}

/// Extracts section `section` of `object`, creating its maps in `maps`.
///
/// # Errors
/// Any [`ElfError`].
pub fn load(object: &[u8], section: &str, maps: &mut MapSet) -> Result<ElfProgram, ElfError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(object).map_err(malformed)?;
    if file.ehdr.class != Class::ELF64 || file.ehdr.e_machine != EM_BPF {
        return Err(ElfError::NotBpf(file.ehdr.e_machine));
    }
    let (headers, names) = file.section_headers_with_strtab().map_err(malformed)?;
    let (headers, names) = headers.zip(names).ok_or(ElfError::Malformed)?;
    let index_of = |wanted: &str| {
        headers
            .iter()
            .position(|h| names.get(h.sh_name as usize).is_ok_and(|n| n == wanted))
    };
    let prog_index = index_of(section).ok_or_else(|| ElfError::NoSection(section.to_string()))?;
    let prog_header = headers.get(prog_index).map_err(malformed)?;
    let (data, _) = file.section_data(&prog_header).map_err(malformed)?;
    if data.is_empty() || !data.len().is_multiple_of(INSN_SIZE) {
        return Err(ElfError::BadProgramSize);
    }
    let mut code = data.to_vec();

    // Maps: every symbol defined in the `maps` section.
    let mut declared: Vec<(usize, String, u32)> = Vec::new();
    if let Some(maps_index) = index_of("maps") {
        let header = headers.get(maps_index).map_err(malformed)?;
        let (defs, _) = file.section_data(&header).map_err(malformed)?;
        if let Some((symbols, strings)) = file.symbol_table().map_err(malformed)? {
            let mut in_section: Vec<(usize, u64, String)> = symbols
                .iter()
                .enumerate()
                .filter(|(_, s)| usize::from(s.st_shndx) == maps_index && s.st_name != 0)
                .map(|(i, s)| {
                    (
                        i,
                        s.st_value,
                        strings.get(s.st_name as usize).unwrap_or("").to_string(),
                    )
                })
                .collect();
            in_section.sort_by_key(|&(_, value, _)| value);
            for (symbol, value, name) in in_section {
                let def = usize::try_from(value)
                    .ok()
                    .and_then(|v| defs.get(v..v.checked_add(MAP_DEF_SIZE)?))
                    .ok_or_else(|| ElfError::BadMapDefinition(name.clone()))?;
                let word =
                    |i: usize| u32::from_le_bytes([def[i], def[i + 1], def[i + 2], def[i + 3]]);
                let (kind, key, value_size, entries) = (word(0), word(4), word(8), word(12));
                let map: alloc::boxed::Box<dyn crate::Map> = if kind == MapKind::Hash as u32 {
                    alloc::boxed::Box::new(HashMap::new(key, value_size, entries).map_err(
                        |error| ElfError::Map {
                            name: name.clone(),
                            error,
                        },
                    )?)
                } else if kind == MapKind::Array as u32 && key == 4 {
                    alloc::boxed::Box::new(ArrayMap::new(value_size, entries).map_err(|error| {
                        ElfError::Map {
                            name: name.clone(),
                            error,
                        }
                    })?)
                } else {
                    return Err(ElfError::UnsupportedMapType { name, kind });
                };
                let index = maps.insert(map);
                declared.push((symbol, name, index));
            }
        }
    }
    let btf_maps = index_of(".maps");

    // Relocations of the program section.
    for header in headers.iter() {
        if header.sh_type != SHT_REL || header.sh_info as usize != prog_index {
            continue;
        }
        for rel in file.section_data_as_rels(&header).map_err(malformed)? {
            let unsupported = ElfError::UnsupportedRelocation {
                offset: rel.r_offset,
                kind: rel.r_type,
            };
            if rel.r_type != R_BPF_64_64 {
                return Err(unsupported);
            }
            let Some(&(_, _, index)) = declared.iter().find(|(s, _, _)| *s == rel.r_sym as usize)
            else {
                if btf_maps.is_some() {
                    return Err(ElfError::BtfMaps);
                }
                return Err(unsupported);
            };
            let at = usize::try_from(rel.r_offset).map_err(|_| ElfError::Malformed)?;
            let slot = code
                .get_mut(at..at.saturating_add(2 * INSN_SIZE))
                .filter(|s| s[0] == 0x18)
                .ok_or(unsupported)?;
            slot[1] = (slot[1] & 0x0f) | (crate::isa::pseudo::MAP_FD << 4);
            slot[4..8].copy_from_slice(&index.to_le_bytes());
            slot[12..16].copy_from_slice(&[0; 4]);
        }
    }
    Ok(ElfProgram {
        code,
        maps: declared
            .into_iter()
            .map(|(_, name, index)| (name, index))
            .collect(),
    })
}
