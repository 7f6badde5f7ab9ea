//! Loading programs from the relocatable objects `clang -target bpf`
//! produces.
//!
//! A program is the bytes of one named section. Maps are declared either
//! the legacy way, as `struct bpf_map_def` values in a section named
//! `maps`, or libbpf's way, as variables in a `.maps` section described by
//! the `.BTF` section clang emits with `-g` (`__uint(type, …)`,
//! `__uint(max_entries, …)`, `__type(key, …)`/`__uint(key_size, …)`,
//! `__type(value, …)`/`__uint(value_size, …)`). Each becomes a map in the
//! embedder's [`MapSet`], and every `lddw` relocated against one
//! (`R_BPF_64_64`) is rewritten into the map-fd pseudo form naming its
//! index. Calls between functions of the same section need no relocation.
//! Not supported yet (each is a typed error): global data sections, and
//! calls into other sections.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::SHT_REL;
use elf::endian::LittleEndian;
use elf::file::Class;

use crate::isa::INSN_SIZE;
use crate::maps::{
    ArrayMap, HashMap, LruHashMap, Map, MapError, MapKind, MapSet, PerCpuArrayMap, PerCpuHashMap,
    RingBufMap, TimeSeriesMap,
};
use crate::signing::{
    ELF_DOMAIN, SIGNATURE_SECTION, SIGNATURE_SIZE, Signature, SignatureError, SigningPolicy,
    sign_digest,
};
use alloc::boxed::Box;
use sha2::{Digest, Sha256};

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
    /// A `.maps` section without readable BTF describing it (compile
    /// with `-g`).
    #[error("BTF-defined maps (.maps) need a readable .BTF section (compile with -g)")]
    BtfMaps,
    /// The signing policy refused the object.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// How [`load_with`] loads an object.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions<'a> {
    /// CPUs of per-CPU maps.
    pub cpus: u32,
    /// If set, the object's signature is checked against it first.
    pub policy: Option<&'a SigningPolicy>,
    /// A detached signature, used instead of the `.exo.sig` section.
    pub detached: Option<&'a Signature>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            cpus: 1,
            policy: None,
            detached: None,
        }
    }
}

/// Byte range of the `.exo.sig` section's contents in `object`, if any.
fn signature_range(object: &[u8]) -> Result<Option<core::ops::Range<usize>>, ElfError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(object).map_err(malformed)?;
    let Some(header) = file
        .section_header_by_name(SIGNATURE_SECTION)
        .map_err(malformed)?
    else {
        return Ok(None);
    };
    if header.sh_type == elf::abi::SHT_NOBITS {
        return Err(ElfError::Signature(SignatureError::Malformed));
    }
    let start = usize::try_from(header.sh_offset).map_err(malformed)?;
    let len = usize::try_from(header.sh_size).map_err(malformed)?;
    let end = start.checked_add(len).ok_or(ElfError::Malformed)?;
    if end > object.len() {
        return Err(ElfError::Malformed);
    }
    if len != SIGNATURE_SIZE {
        return Err(ElfError::Signature(SignatureError::Malformed));
    }
    Ok(Some(start..end))
}

/// The digest an object's signature covers: SHA-256 of the whole file with
/// the `.exo.sig` section's contents (if any) taken as zeros.
///
/// # Errors
/// [`ElfError::Malformed`] if the section table cannot be read, or a
/// malformed-signature error if `.exo.sig` is not 96 bytes.
pub fn digest(object: &[u8]) -> Result<[u8; 32], ElfError> {
    let mut h = Sha256::new();
    match signature_range(object)? {
        Some(r) => {
            h.update(&object[..r.start]);
            h.update([0u8; SIGNATURE_SIZE]);
            h.update(&object[r.end..]);
        }
        None => h.update(object),
    }
    Ok(h.finalize().into())
}

/// A detached signature of `object`.
///
/// # Errors
/// As [`digest`].
pub fn sign_detached(
    key: &crate::signing::SigningKey,
    object: &[u8],
) -> Result<Signature, ElfError> {
    Ok(sign_digest(key, ELF_DOMAIN, &digest(object)?))
}

/// `object` with its signature written into its (96-byte, placeholder)
/// `.exo.sig` section.
///
/// # Errors
/// [`ElfError::NoSection`] if it has no `.exo.sig` section, or as
/// [`digest`].
pub fn sign(key: &crate::signing::SigningKey, object: &[u8]) -> Result<Vec<u8>, ElfError> {
    let range = signature_range(object)?
        .ok_or_else(|| ElfError::NoSection(SIGNATURE_SECTION.to_string()))?;
    let sig = sign_detached(key, object)?;
    let mut out = object.to_vec();
    out[range].copy_from_slice(&sig.to_bytes());
    Ok(out)
}

/// Checks `object`'s signature (detached, or else embedded) against
/// `policy`; an all-zero `.exo.sig` counts as no signature.
///
/// # Errors
/// [`ElfError::Signature`], or as [`digest`].
pub fn check_signature(
    object: &[u8],
    policy: &SigningPolicy,
    detached: Option<&Signature>,
) -> Result<Option<usize>, ElfError> {
    let embedded = match signature_range(object)? {
        Some(r) if object[r.clone()].iter().any(|&b| b != 0) => {
            Some(Signature::from_bytes(&object[r])?)
        }
        _ => None,
    };
    let sig = detached.copied().or(embedded);
    Ok(policy.check_digest(ELF_DOMAIN, &digest(object)?, sig.as_ref())?)
}

fn create_map(
    kind: u32,
    key: u32,
    value: u32,
    entries: u32,
    cpus: u32,
) -> Option<Result<Box<dyn Map>, MapError>> {
    fn boxed<M: Map>(m: Result<M, MapError>) -> Result<Box<dyn Map>, MapError> {
        m.map(|m| Box::new(m) as Box<dyn Map>)
    }
    Some(match MapKind::from_raw(kind)? {
        MapKind::Hash => boxed(HashMap::new(key, value, entries)),
        MapKind::Array if key == 4 => boxed(ArrayMap::new(value, entries)),
        MapKind::PerCpuHash => boxed(PerCpuHashMap::new(key, value, entries, cpus)),
        MapKind::PerCpuArray if key == 4 => boxed(PerCpuArrayMap::new(value, entries, cpus)),
        MapKind::LruHash => boxed(LruHashMap::new(key, value, entries)),
        MapKind::RingBuf if key == 0 && value == 0 => boxed(RingBufMap::new(entries)),
        MapKind::TimeSeries if key == 8 && value == 8 => boxed(TimeSeriesMap::new(entries)),
        _ => return None,
    })
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

/// Extracts section `section` of `object`, creating its maps in `maps`
/// (per-CPU maps with one CPU; no signature check).
///
/// # Errors
/// Any [`ElfError`].
pub fn load(object: &[u8], section: &str, maps: &mut MapSet) -> Result<ElfProgram, ElfError> {
    load_with(object, section, maps, &LoadOptions::default())
}

/// As [`load`], with `options`: when a policy is given, the object's
/// signature is checked before anything else is looked at.
///
/// # Errors
/// Any [`ElfError`].
pub fn load_with(
    object: &[u8],
    section: &str,
    maps: &mut MapSet,
    options: &LoadOptions<'_>,
) -> Result<ElfProgram, ElfError> {
    if let Some(policy) = options.policy {
        check_signature(object, policy, options.detached)?;
    }
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

    // Maps: every symbol defined in the legacy `maps` section, then every
    // map the BTF of `.maps` declares.
    let mut declared: Vec<(usize, String, u32)> = Vec::new();
    let symbols = file.symbol_table().map_err(malformed)?;
    let in_section = |index: usize| -> Vec<(usize, u64, String)> {
        let Some((symbols, strings)) = &symbols else {
            return Vec::new();
        };
        let mut found: Vec<(usize, u64, String)> = symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| usize::from(s.st_shndx) == index && s.st_name != 0)
            .map(|(i, s)| {
                (
                    i,
                    s.st_value,
                    strings.get(s.st_name as usize).unwrap_or("").to_string(),
                )
            })
            .collect();
        found.sort_by_key(|&(_, value, _)| value);
        found
    };
    let mut create = |name: String, kind, key, value, entries, declared: &mut Vec<_>, symbol| {
        let map = match create_map(kind, key, value, entries, options.cpus) {
            None => return Err(ElfError::UnsupportedMapType { name, kind }),
            Some(Err(error)) => return Err(ElfError::Map { name, error }),
            Some(Ok(map)) => map,
        };
        let index = maps.insert(map);
        declared.push((symbol, name, index));
        Ok(())
    };
    if let Some(maps_index) = index_of("maps") {
        let header = headers.get(maps_index).map_err(malformed)?;
        let (defs, _) = file.section_data(&header).map_err(malformed)?;
        for (symbol, value, name) in in_section(maps_index) {
            let def = usize::try_from(value)
                .ok()
                .and_then(|v| defs.get(v..v.checked_add(MAP_DEF_SIZE)?))
                .ok_or_else(|| ElfError::BadMapDefinition(name.clone()))?;
            let word = |i: usize| u32::from_le_bytes([def[i], def[i + 1], def[i + 2], def[i + 3]]);
            create(
                name,
                word(0),
                word(4),
                word(8),
                word(12),
                &mut declared,
                symbol,
            )?;
        }
    }
    if let (Some(maps_index), Some(btf_index)) = (index_of(".maps"), index_of(".BTF")) {
        let header = headers.get(btf_index).map_err(malformed)?;
        let (btf, _) = file.section_data(&header).map_err(malformed)?;
        let defs = crate::btf::maps(btf).map_err(|e| match e {
            Some(name) => ElfError::BadMapDefinition(name),
            None => ElfError::BtfMaps,
        })?;
        let symbols = in_section(maps_index);
        for def in defs {
            let symbol = symbols
                .iter()
                .find(|(_, _, n)| *n == def.name)
                .map(|&(i, _, _)| i)
                .ok_or_else(|| ElfError::BadMapDefinition(def.name.clone()))?;
            create(
                def.name,
                def.kind,
                def.key_size,
                def.value_size,
                def.max_entries,
                &mut declared,
                symbol,
            )?;
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
