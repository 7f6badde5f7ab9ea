//! Just enough BTF to read BTF-defined maps (the `.maps` section libbpf's
//! `__uint`/`__type` macros produce).
//!
//! A BTF-defined map is a global variable in section `.maps` whose type is
//! an anonymous struct. Each member encodes one attribute in its *type*:
//! `__uint(name, N)` is `int (*name)[N]` (a pointer to an array of `N`
//! elements), `__type(name, T)` is `T *name`. The attributes read are
//! `type`, `max_entries`, `key_size`, `value_size`, `key` and `value`
//! (sizes from the pointed-to types); others (`map_flags`, `pinning`, …)
//! are ignored.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

const MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// One parsed type: its kind, name offset, `size_or_type`, and where its
/// trailing data starts in the type section.
#[derive(Clone, Copy, Debug)]
struct Type {
    kind: u32,
    vlen: u32,
    name: u32,
    size_or_type: u32,
    extra: usize,
}

/// A map as BTF declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BtfMap {
    pub name: String,
    pub kind: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Index `id - 1`.
    all: Vec<Type>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Btf<'a> {
    fn parse(data: &'a [u8]) -> Option<Btf<'a>> {
        if u16::from_le_bytes(data.get(0..2)?.try_into().ok()?) != MAGIC {
            return None;
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let (type_off, type_len) = (u32_at(data, 8)? as usize, u32_at(data, 12)? as usize);
        let (str_off, str_len) = (u32_at(data, 16)? as usize, u32_at(data, 20)? as usize);
        let body = data.get(hdr_len..)?;
        let types = body.get(type_off..type_off.checked_add(type_len)?)?;
        let strings = body.get(str_off..str_off.checked_add(str_len)?)?;
        let mut all = Vec::new();
        let mut at = 0;
        while at < types.len() {
            let name = u32_at(types, at)?;
            let info = u32_at(types, at + 4)?;
            let size_or_type = u32_at(types, at + 8)?;
            let (kind, vlen) = ((info >> 24) & 0x1f, info & 0xffff);
            let extra = at + 12;
            let trailing = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen as usize,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen as usize,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                _ => return None,
            };
            all.push(Type {
                kind,
                vlen,
                name,
                size_or_type,
                extra,
            });
            at = extra.checked_add(trailing)?;
        }
        Some(Btf {
            types,
            strings,
            all,
        })
    }

    fn get(&self, id: u32) -> Option<Type> {
        self.all.get((id as usize).checked_sub(1)?).copied()
    }

    fn name(&self, off: u32) -> Option<&'a str> {
        let rest = self.strings.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&rest[..end]).ok()
    }

    /// `id` with typedefs and qualifiers peeled off.
    fn resolve(&self, mut id: u32) -> Option<Type> {
        for _ in 0..32 {
            let t = self.get(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Some(t),
            }
        }
        None
    }

    fn size(&self, id: u32) -> Option<u32> {
        self.size_at(id, 0)
    }

    /// `depth` bounds nested arrays, so a cyclic type cannot recurse
    /// forever.
    fn size_at(&self, id: u32, depth: u32) -> Option<u32> {
        if depth > 32 {
            return None;
        }
        let t = self.resolve(id)?;
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_FLOAT | KIND_ENUM64 => {
                Some(t.size_or_type)
            }
            KIND_PTR => Some(8),
            KIND_ARRAY => {
                let elem = u32_at(self.types, t.extra)?;
                let n = u32_at(self.types, t.extra + 8)?;
                self.size_at(elem, depth + 1)?.checked_mul(n)
            }
            _ => None,
        }
    }

    /// The `N` of a `__uint(name, N)` member type (`int (*)[N]`).
    fn uint(&self, member_type: u32) -> Option<u32> {
        let ptr = self.resolve(member_type)?;
        if ptr.kind != KIND_PTR {
            return None;
        }
        let array = self.resolve(ptr.size_or_type)?;
        if array.kind != KIND_ARRAY {
            return None;
        }
        u32_at(self.types, array.extra + 8)
    }

    /// The size of `T` of a `__type(name, T)` member type (`T *`).
    fn pointee_size(&self, member_type: u32) -> Option<u32> {
        let ptr = self.resolve(member_type)?;
        if ptr.kind != KIND_PTR {
            return None;
        }
        self.size(ptr.size_or_type)
    }

    fn map(&self, var: u32) -> Result<BtfMap, String> {
        let v = self.get(var).filter(|t| t.kind == KIND_VAR).ok_or("")?;
        let name = self.name(v.name).ok_or("")?.to_string();
        let bad = || name.clone();
        let def = self.resolve(v.size_or_type).ok_or_else(bad)?;
        if def.kind != KIND_STRUCT {
            return Err(bad());
        }
        let mut m = BtfMap {
            name: name.clone(),
            kind: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
        };
        for i in 0..def.vlen as usize {
            let at = def.extra + 12 * i;
            let member = self
                .name(u32_at(self.types, at).ok_or_else(bad)?)
                .ok_or_else(bad)?;
            let ty = u32_at(self.types, at + 4).ok_or_else(bad)?;
            let slot = match member {
                "type" => &mut m.kind,
                "max_entries" => &mut m.max_entries,
                "key_size" => &mut m.key_size,
                "value_size" => &mut m.value_size,
                "key" => {
                    m.key_size = self.pointee_size(ty).ok_or_else(bad)?;
                    continue;
                }
                "value" => {
                    m.value_size = self.pointee_size(ty).ok_or_else(bad)?;
                    continue;
                }
                _ => continue,
            };
            *slot = self.uint(ty).ok_or_else(bad)?;
        }
        Ok(m)
    }
}

/// The maps the `.maps` data section of `btf` declares, in section order.
///
/// # Errors
/// `Err(None)` if the BTF cannot be parsed or has no `.maps` section,
/// `Err(Some(name))` for a map whose definition cannot be read.
pub(crate) fn maps(btf: &[u8]) -> Result<Vec<BtfMap>, Option<String>> {
    let btf = Btf::parse(btf).ok_or(None)?;
    let sec = btf
        .all
        .iter()
        .find(|t| t.kind == KIND_DATASEC && btf.name(t.name) == Some(".maps"))
        .ok_or(None)?;
    let mut vars: Vec<(u32, u32)> = (0..sec.vlen as usize)
        .map(|i| {
            let at = sec.extra + 12 * i;
            Some((u32_at(btf.types, at + 4)?, u32_at(btf.types, at)?))
        })
        .collect::<Option<_>>()
        .ok_or(None)?;
    vars.sort_by_key(|&(offset, _)| offset);
    vars.into_iter()
        .map(|(_, var)| btf.map(var).map_err(Some))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BTF for one `.maps` variable `m` whose `value` points at type
    /// `value_target`: 1 int, 2 `int[2]`, 3 `int (*)[2]`, 4 `int *`,
    /// 5 an array of itself (cyclic), 6 pointer to `value_target`,
    /// 7 the struct, 8 the variable, 9 the data section.
    fn btf(value_target: u32) -> Vec<u8> {
        let strings = b"\0int\0type\0key\0value\0m\0.maps\0";
        let mut t: Vec<u32> = Vec::new();
        let info = |kind: u32, vlen: u32| kind << 24 | vlen;
        t.extend([1, info(KIND_INT, 0), 4, 32]);
        t.extend([0, info(KIND_ARRAY, 0), 0, 1, 1, 2]);
        t.extend([0, info(KIND_PTR, 0), 2]);
        t.extend([0, info(KIND_PTR, 0), 1]);
        t.extend([0, info(KIND_ARRAY, 0), 0, 5, 1, 3]);
        t.extend([0, info(KIND_PTR, 0), value_target]);
        t.extend([0, info(KIND_STRUCT, 3), 24, 5, 3, 0, 10, 4, 64, 14, 6, 128]);
        t.extend([20, info(KIND_VAR, 0), 7, 1]);
        t.extend([22, info(KIND_DATASEC, 1), 24, 8, 0, 24]);
        let types: Vec<u8> = t.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend(MAGIC.to_le_bytes());
        out.extend([1, 0]);
        for w in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            out.extend(w.to_le_bytes());
        }
        out.extend(types);
        out.extend(strings);
        out
    }

    #[test]
    fn reads_a_map_definition() {
        assert_eq!(
            maps(&btf(1)),
            Ok(alloc::vec![BtfMap {
                name: "m".to_string(),
                kind: 2,
                key_size: 4,
                value_size: 4,
                max_entries: 0,
            }])
        );
    }

    #[test]
    fn cyclic_types_are_refused() {
        assert_eq!(maps(&btf(5)), Err(Some("m".to_string())));
        assert_eq!(maps(&btf(1)[..30]), Err(None));
    }
}
