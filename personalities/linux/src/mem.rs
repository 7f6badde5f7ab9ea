//! Memory calls: `mmap`, `munmap`, `mprotect`, `mremap`, `brk`.
//!
//! The process's areas live in the libOS ([`libos::mm::AddressSpace`]);
//! these handlers validate Linux's arguments, update the areas, then apply
//! the same ranges to the process's memory through
//! [`UserMemory`](exo_personality::UserMemory)'s paging calls. Two
//! deliberate differences from Linux, both documented in
//! `docs/PERSONALITIES.md`: writable+executable mappings are refused with
//! `EACCES` (the exokernel enforces W^X), and file mappings are private
//! copies (a shared writable file mapping, which would need write-back, is
//! `ENODEV`; a shared read-only one is a snapshot).

use alloc::string::String;

use exo_personality::Ctx;
use libos::mm::{AddressSpace, Area, PAGE, Prot, page_len};
use libos::vfs::node::FileType;
use libos::{Errno, Result};

use crate::calls::file;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_DENYWRITE: u64 = 0x800;
const MAP_EXECUTABLE: u64 = 0x1000;
const MAP_LOCKED: u64 = 0x2000;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_POPULATE: u64 = 0x8000;
const MAP_NONBLOCK: u64 = 0x1_0000;
const MAP_STACK: u64 = 0x2_0000;
const MAP_HUGETLB: u64 = 0x4_0000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// Flags `MAP_SHARED_VALIDATE` accepts (Linux answers others with
/// `EOPNOTSUPP`, which the libOS has no number for yet: `EINVAL`).
const MAP_KNOWN: u64 = MAP_TYPE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_GROWSDOWN
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_FIXED_NOREPLACE;

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;

/// Largest file mapping read in at once.
const FILE_MAP_MAX: u64 = 64 << 20;

/// Applies an area change to the process's memory: drop what it replaced,
/// back the new range, fill it, then give it its final access.
fn bind(ctx: &mut Ctx<'_>, area: &Area, contents: &[u8]) -> Result<()> {
    let len = area.end - area.start;
    ctx.mem.unmap_pages(area.start, len)?;
    let staging = if contents.is_empty() {
        area.prot
    } else {
        Prot::RW
    };
    ctx.mem.map_pages(area.start, len, staging)?;
    if !contents.is_empty() {
        ctx.mem.write(area.start, contents)?;
        ctx.mem.protect_pages(area.start, len, area.prot)?;
    }
    Ok(())
}

pub(crate) fn mmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let [addr, len, prot, flags, fd, offset] = a;
    let prot = Prot::from_bits(prot)?;
    let shared = match flags & MAP_TYPE {
        MAP_SHARED => true,
        MAP_PRIVATE => false,
        MAP_SHARED_VALIDATE if flags & !MAP_KNOWN != 0 => return Err(Errno::EINVAL),
        MAP_SHARED_VALIDATE => true,
        _ => return Err(Errno::EINVAL),
    };
    if flags & MAP_HUGETLB != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_len(len)?;
    if !offset.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let anonymous = flags & MAP_ANONYMOUS != 0;
    // The file's bytes, read before anything changes.
    let (contents, name) = if anonymous {
        (alloc::vec::Vec::new(), String::new())
    } else {
        let f = file(ctx, fd)?;
        if f.kind() != FileType::Regular {
            return Err(Errno::ENODEV);
        }
        let fl = f.flags();
        if !fl.read || (shared && prot.writable() && !fl.write) {
            return Err(Errno::EACCES);
        }
        if shared && prot.writable() {
            return Err(Errno::ENODEV);
        }
        let mut buf = alloc::vec![0u8; len.min(FILE_MAP_MAX) as usize];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(offset + got as u64, &mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        let name = f
            .path()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
        (buf, name)
    };
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let area = ctx.sys.procs.with(ctx.pid, |p| -> Result<Area> {
        let start = if fixed {
            let end = AddressSpace::check_range(addr, len)?;
            if flags & MAP_FIXED_NOREPLACE != 0 && p.mm.overlaps(addr, end) {
                return Err(Errno::EEXIST);
            }
            addr
        } else {
            p.mm.find_free(addr, len)?
        };
        let area = Area {
            shared,
            offset: if anonymous { 0 } else { offset },
            name: name.clone(),
            ..Area::anonymous(start, start + len, prot)
        };
        p.mm.insert(area.clone());
        Ok(area)
    })??;
    if let Err(e) = bind(ctx, &area, &contents) {
        let _ = ctx
            .sys
            .procs
            .with(ctx.pid, |p| p.mm.remove(area.start, area.end));
        let _ = ctx.mem.unmap_pages(area.start, area.end - area.start);
        return Err(if e == Errno::EFAULT { Errno::ENOMEM } else { e });
    }
    Ok(area.start)
}

pub(crate) fn munmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let end = AddressSpace::check_range(a[0], a[1]).map_err(|_| Errno::EINVAL)?;
    let gone = ctx.sys.procs.with(ctx.pid, |p| p.mm.remove(a[0], end))?;
    for (s, e) in gone {
        ctx.mem.unmap_pages(s, e - s)?;
    }
    Ok(0)
}

pub(crate) fn mprotect(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let prot = Prot::from_bits(a[2])?;
    if !a[0].is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    if a[1] == 0 {
        return Ok(0);
    }
    let end = AddressSpace::check_range(a[0], a[1])?;
    ctx.sys
        .procs
        .with(ctx.pid, |p| p.mm.protect(a[0], end, prot))??;
    ctx.mem.protect_pages(a[0], end - a[0], prot)?;
    Ok(0)
}

pub(crate) fn brk(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (grown, shrunk, now) = ctx.sys.procs.with(ctx.pid, |p| {
        let (g, s) = if a[0] == 0 {
            (None, None)
        } else {
            p.mm.set_brk(a[0])
        };
        (g, s, p.mm.brk())
    })?;
    if let Some((s, e)) = grown
        && ctx.mem.map_pages(s, e - s, Prot::RW).is_err()
    {
        // Out of memory: put the break back and report it unchanged.
        let old = ctx.sys.procs.with(ctx.pid, |p| {
            p.mm.remove(s, e);
            let _ = p.mm.set_brk(s);
            p.mm.brk()
        })?;
        return Ok(old);
    }
    if let Some((s, e)) = shrunk {
        ctx.mem.unmap_pages(s, e - s)?;
    }
    Ok(now)
}

pub(crate) fn mremap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let [old, old_len, new_len, flags, new_addr, _] = a;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0
        || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
        || !old.is_multiple_of(PAGE)
    {
        return Err(Errno::EINVAL);
    }
    let new_len = page_len(new_len)?;
    let old_len = page_len(old_len).map_err(|_| Errno::EINVAL)?;
    let old_end = AddressSpace::check_range(old, old_len).map_err(|_| Errno::EFAULT)?;
    let plan = ctx.sys.procs.with(ctx.pid, |p| -> Result<Remap> {
        let area = p.mm.find(old).cloned().ok_or(Errno::EFAULT)?;
        if old_end > area.end {
            return Err(Errno::EFAULT);
        }
        if flags & MREMAP_FIXED != 0 {
            let end = AddressSpace::check_range(new_addr, new_len)?;
            if new_addr < old_end && old < end {
                return Err(Errno::EINVAL);
            }
            return Ok(Remap::Move(area, new_addr));
        }
        if new_len <= old_len {
            return Ok(Remap::Shrink(old + new_len, old_end));
        }
        let grow_end = old + new_len;
        if old_end == area.end
            && grow_end <= libos::mm::USER_MAX
            && !p.mm.overlaps(old_end, grow_end)
        {
            return Ok(Remap::Grow(area, old_end, grow_end));
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        Ok(Remap::Move(area, p.mm.find_free(0, new_len)?))
    })??;
    match plan {
        Remap::Shrink(s, e) => {
            if s < e {
                ctx.sys.procs.with(ctx.pid, |p| p.mm.remove(s, e))?;
                ctx.mem.unmap_pages(s, e - s)?;
            }
            Ok(old)
        }
        Remap::Grow(area, s, e) => {
            let tail = Area {
                start: s,
                end: e,
                offset: area.offset + (s - area.start),
                ..area
            };
            ctx.sys.procs.with(ctx.pid, |p| p.mm.insert(tail.clone()))?;
            ctx.mem.map_pages(s, e - s, tail.prot)?;
            Ok(old)
        }
        Remap::Move(area, to) => {
            let keep = old_len.min(new_len);
            let moved = Area {
                start: to,
                end: to + new_len,
                offset: area.offset + (old - area.start),
                ..area
            };
            ctx.sys.procs.with(ctx.pid, |p| {
                p.mm.remove(old, old_end);
                p.mm.insert(moved.clone())
            })?;
            ctx.mem.unmap_pages(to, new_len)?;
            ctx.mem.move_pages(old, to, keep)?;
            ctx.mem.unmap_pages(old, old_len)?;
            if new_len > keep {
                ctx.mem.map_pages(to + keep, new_len - keep, moved.prot)?;
            }
            Ok(to)
        }
    }
}

enum Remap {
    /// Unmap `[.0, .1)`.
    Shrink(u64, u64),
    /// Extend the area in place over `[.1, .2)`.
    Grow(Area, u64, u64),
    /// Move to the address.
    Move(Area, u64),
}
