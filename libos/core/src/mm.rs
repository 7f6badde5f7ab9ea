//! Address-space bookkeeping: which virtual ranges of a process are mapped,
//! with what access and what backs them.
//!
//! The libOS keeps the areas (what `/proc/[pid]/maps` shows, what `mmap`
//! searches for a free range, where `brk` may grow); the memory itself is
//! the embedder's: on bare metal frames bound by the exokernel's `MAP`,
//! hosted a sparse page store. A personality turns `mmap`, `munmap`,
//! `mprotect`, `mremap` and `brk` into calls here, then applies the
//! resulting ranges to the process's memory. Every range is page aligned
//! and inside [`USER_MIN`, `USER_MAX`).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::errno::{Errno, Result};
use crate::process::Region;

/// Page size of every mapping.
pub const PAGE: u64 = 4096;
/// Lowest mappable address (the null page and a guard stay unmapped).
pub const USER_MIN: u64 = 0x1_0000;
/// One past the highest mappable address (the x86_64 lower half).
pub const USER_MAX: u64 = 0x7fff_ffff_f000;
/// Where the top-down search for `mmap` without a hint starts.
pub const MMAP_TOP: u64 = 0x7f00_0000_0000;

/// Access to a range, with the same bit values as `PROT_*` on Linux,
/// FreeBSD and illumos.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prot(pub u8);

impl Prot {
    /// No access.
    pub const NONE: Self = Self(0);
    /// Readable.
    pub const READ: Self = Self(1);
    /// Writable.
    pub const WRITE: Self = Self(2);
    /// Executable.
    pub const EXEC: Self = Self(4);
    /// Readable and writable.
    pub const RW: Self = Self(3);

    /// From a `PROT_*` word.
    ///
    /// # Errors
    /// `EINVAL` for unknown bits; `EACCES` for writable and executable at
    /// once, which the exokernel refuses (W^X) and so the libOS never
    /// promises.
    pub fn from_bits(bits: u64) -> Result<Self> {
        if bits & !7 != 0 {
            return Err(Errno::EINVAL);
        }
        let p = Self(bits as u8);
        if p.writable() && p.executable() {
            return Err(Errno::EACCES);
        }
        Ok(p)
    }

    /// Readable.
    #[must_use]
    pub const fn readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// Writable.
    #[must_use]
    pub const fn writable(self) -> bool {
        self.0 & 2 != 0
    }
    /// Executable.
    #[must_use]
    pub const fn executable(self) -> bool {
        self.0 & 4 != 0
    }
}

/// One mapped area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    /// First address (page aligned).
    pub start: u64,
    /// One past the last (page aligned).
    pub end: u64,
    /// Access.
    pub prot: Prot,
    /// Shared (`MAP_SHARED`) rather than private.
    pub shared: bool,
    /// Offset into the backing file of `start`.
    pub offset: u64,
    /// The backing file's path, or `[heap]`, `[stack]`, empty for
    /// anonymous memory.
    pub name: String,
}

impl Area {
    /// An anonymous private area.
    #[must_use]
    pub fn anonymous(start: u64, end: u64, prot: Prot) -> Self {
        Self {
            start,
            end,
            prot,
            shared: false,
            offset: 0,
            name: String::new(),
        }
    }

    fn len(&self) -> u64 {
        self.end - self.start
    }

    /// The part of `self` in `[start, end)`, if any.
    fn slice(&self, start: u64, end: u64) -> Option<Self> {
        let (s, e) = (self.start.max(start), self.end.min(end));
        (s < e).then(|| Self {
            start: s,
            end: e,
            offset: if self.name.is_empty() || self.name.starts_with('[') {
                0
            } else {
                self.offset + (s - self.start)
            },
            ..self.clone()
        })
    }

    /// The `/proc/[pid]/maps` view.
    #[must_use]
    pub fn region(&self) -> Region {
        Region {
            start: self.start,
            end: self.end,
            perms: [
                if self.prot.readable() { b'r' } else { b'-' },
                if self.prot.writable() { b'w' } else { b'-' },
                if self.prot.executable() { b'x' } else { b'-' },
                if self.shared { b's' } else { b'p' },
            ],
            offset: self.offset,
            name: self.name.clone(),
        }
    }
}

/// Rounds `len` up to whole pages; `EINVAL` for 0, `ENOMEM` past the
/// user range.
///
/// # Errors
/// As above.
pub fn page_len(len: u64) -> Result<u64> {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    len.checked_next_multiple_of(PAGE)
        .filter(|&l| l <= USER_MAX - USER_MIN)
        .ok_or(Errno::ENOMEM)
}

/// A page range `[start, end)`.
pub type Span = (u64, u64);

/// The areas of one address space and its program break.
#[derive(Clone, Debug, Default)]
pub struct AddressSpace {
    areas: BTreeMap<u64, Area>,
    brk_base: u64,
    brk: u64,
}

impl AddressSpace {
    /// Nothing mapped, no heap yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The address space an exec'd image starts with: its segments (and
    /// stack, if listed) as areas, the heap starting after the highest
    /// segment that is not the stack.
    #[must_use]
    pub fn from_regions(regions: &[Region]) -> Self {
        let mut m = Self::new();
        let mut top = 0;
        for r in regions {
            let (start, end) = (r.start / PAGE * PAGE, r.end.next_multiple_of(PAGE));
            if start >= end {
                continue;
            }
            let bit = |i: usize, c: u8, v: u8| if r.perms[i] == c { v } else { 0 };
            m.insert(Area {
                start,
                end,
                prot: Prot(bit(0, b'r', 1) | bit(1, b'w', 2) | bit(2, b'x', 4)),
                shared: r.perms[3] == b's',
                offset: r.offset,
                name: r.name.clone(),
            });
            if r.name != "[stack]" {
                top = top.max(end);
            }
        }
        if top != 0 {
            m.set_brk_base(top);
        }
        m
    }

    /// The areas, ascending.
    pub fn areas(&self) -> impl Iterator<Item = &Area> {
        self.areas.values()
    }

    /// The `/proc/[pid]/maps` lines' contents.
    #[must_use]
    pub fn regions(&self) -> Vec<Region> {
        self.areas().map(Area::region).collect()
    }

    /// The area holding `addr`.
    #[must_use]
    pub fn find(&self, addr: u64) -> Option<&Area> {
        self.areas
            .range(..=addr)
            .next_back()
            .map(|(_, a)| a)
            .filter(|a| addr < a.end)
    }

    /// Whether any page of `[start, end)` is mapped.
    #[must_use]
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.areas
            .range(..end)
            .next_back()
            .is_some_and(|(_, a)| a.end > start)
    }

    /// Whether every page of `[start, end)` is mapped.
    #[must_use]
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(a) => at = a.end,
                None => return false,
            }
        }
        true
    }

    /// Where a `len`-byte mapping goes: at `hint` when that range is free
    /// and in bounds, else the highest free range below [`MMAP_TOP`].
    ///
    /// # Errors
    /// `ENOMEM` when no range is free.
    pub fn find_free(&self, hint: u64, len: u64) -> Result<u64> {
        let hint = hint.next_multiple_of(PAGE);
        if hint >= USER_MIN
            && hint
                .checked_add(len)
                .is_some_and(|e| e <= USER_MAX && !self.overlaps(hint, e))
        {
            return Ok(hint);
        }
        // Top down: try just below each area, starting from the top.
        let mut top = MMAP_TOP;
        for (_, a) in self.areas.range(..MMAP_TOP).rev() {
            if a.end <= top.saturating_sub(len) && top - len >= USER_MIN {
                return Ok(top - len);
            }
            top = top.min(a.start);
        }
        top.checked_sub(len)
            .filter(|&s| s >= USER_MIN.max(self.brk))
            .ok_or(Errno::ENOMEM)
    }

    /// Checks that `[start, start + len)` is page aligned and inside the
    /// user range; returns its end.
    ///
    /// # Errors
    /// `EINVAL` when misaligned, `ENOMEM` when out of range.
    pub fn check_range(start: u64, len: u64) -> Result<u64> {
        if !start.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let len = page_len(len)?;
        start
            .checked_add(len)
            .filter(|&e| start >= USER_MIN && e <= USER_MAX)
            .ok_or(Errno::ENOMEM)
    }

    /// Unmaps `[start, end)`, splitting areas at the edges; returns the
    /// ranges that were mapped (for the caller to unbind).
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let hit: Vec<u64> = self
            .areas
            .range(..end)
            .rev()
            .take_while(|(_, a)| a.end > start)
            .map(|(&s, _)| s)
            .collect();
        let mut removed = Vec::new();
        for s in hit.into_iter().rev() {
            let Some(a) = self.areas.remove(&s) else {
                continue;
            };
            if let Some(left) = a.slice(a.start, start) {
                self.areas.insert(left.start, left);
            }
            if let Some(right) = a.slice(end, a.end) {
                self.areas.insert(right.start, right);
            }
            removed.push((a.start.max(start), a.end.min(end)));
        }
        removed
    }

    /// Maps `area`, replacing whatever overlapped it; returns the replaced
    /// ranges.
    pub fn insert(&mut self, area: Area) -> Vec<(u64, u64)> {
        let replaced = self.remove(area.start, area.end);
        self.areas.insert(area.start, area);
        self.merge();
        replaced
    }

    /// Changes the access of `[start, end)`.
    ///
    /// # Errors
    /// `ENOMEM` if part of the range is unmapped (nothing changes then).
    pub fn protect(&mut self, start: u64, end: u64, prot: Prot) -> Result<()> {
        if !self.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        let parts: Vec<Area> = self
            .areas
            .range(..end)
            .rev()
            .take_while(|(_, a)| a.end > start)
            .filter_map(|(_, a)| a.slice(start, end))
            .collect();
        for mut p in parts {
            self.remove(p.start, p.end);
            p.prot = prot;
            self.areas.insert(p.start, p);
        }
        self.merge();
        Ok(())
    }

    /// Joins neighbouring areas that differ in nothing but their range.
    fn merge(&mut self) {
        let mut out: BTreeMap<u64, Area> = BTreeMap::new();
        for (_, a) in core::mem::take(&mut self.areas) {
            if let Some((_, prev)) = out.iter_mut().next_back()
                && prev.end == a.start
                && prev.prot == a.prot
                && prev.shared == a.shared
                && prev.name == a.name
                && (prev.name.is_empty()
                    || prev.name.starts_with('[')
                    || prev.offset + prev.len() == a.offset)
            {
                prev.end = a.end;
                continue;
            }
            out.insert(a.start, a);
        }
        self.areas = out;
    }

    /// Sets where the heap starts (after the program's last segment); the
    /// break is reset to it.
    pub fn set_brk_base(&mut self, base: u64) {
        let base = base.next_multiple_of(PAGE);
        self.brk_base = base;
        self.brk = base;
    }

    /// The current program break.
    #[must_use]
    pub fn brk(&self) -> u64 {
        self.brk
    }

    /// Moves the break to `new` as `brk(2)` does; returns the page ranges
    /// to bind (grown) and to unbind (shrunk). A request below the heap's
    /// start, or one that would run into another mapping, changes nothing
    /// (the caller reports the unchanged break, as Linux does).
    pub fn set_brk(&mut self, new: u64) -> (Option<Span>, Option<Span>) {
        if self.brk_base == 0 || new < self.brk_base || new > MMAP_TOP {
            return (None, None);
        }
        let old_top = self.brk.next_multiple_of(PAGE);
        let new_top = new.next_multiple_of(PAGE);
        if new_top > old_top {
            if self.overlaps(old_top, new_top) {
                return (None, None);
            }
            self.insert(Area {
                name: "[heap]".into(),
                ..Area::anonymous(old_top, new_top, Prot::RW)
            });
            self.brk = new;
            (Some((old_top, new_top)), None)
        } else {
            self.brk = new;
            if new_top < old_top {
                self.remove(new_top, old_top);
                (None, Some((new_top, old_top)))
            } else {
                (None, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(s: u64, e: u64) -> Area {
        Area::anonymous(s, e, Prot::RW)
    }

    #[test]
    fn remove_splits_and_reports_what_was_mapped() {
        let mut m = AddressSpace::new();
        m.insert(anon(0x10000, 0x20000));
        let gone = m.remove(0x14000, 0x16000);
        assert_eq!(gone, [(0x14000, 0x16000)]);
        let r: Vec<_> = m.areas().map(|a| (a.start, a.end)).collect();
        assert_eq!(r, [(0x10000, 0x14000), (0x16000, 0x20000)]);
        assert!(!m.covers(0x10000, 0x20000));
        assert!(m.covers(0x16000, 0x20000));
    }

    #[test]
    fn protect_needs_the_whole_range_and_merges_back() {
        let mut m = AddressSpace::new();
        m.insert(anon(0x10000, 0x20000));
        assert_eq!(m.protect(0x1f000, 0x21000, Prot::READ), Err(Errno::ENOMEM));
        m.protect(0x12000, 0x13000, Prot::READ).unwrap();
        assert_eq!(m.areas().count(), 3);
        m.protect(0x12000, 0x13000, Prot::RW).unwrap();
        assert_eq!(m.areas().count(), 1);
    }

    #[test]
    fn find_free_honours_free_hints_and_searches_down() {
        let mut m = AddressSpace::new();
        assert_eq!(m.find_free(0x40_0000, 0x2000), Ok(0x40_0000));
        let a = m.find_free(0, 0x2000).unwrap();
        assert_eq!(a, MMAP_TOP - 0x2000);
        m.insert(anon(a, a + 0x2000));
        assert_eq!(m.find_free(a, 0x1000), Ok(a - 0x1000));
        assert_eq!(m.find_free(0, 0x3000), Ok(a - 0x3000));
    }

    #[test]
    fn brk_grows_and_shrinks_by_pages_and_stops_at_mappings() {
        let mut m = AddressSpace::new();
        m.set_brk_base(0x60_1234);
        assert_eq!(m.brk(), 0x60_2000);
        assert_eq!(m.set_brk(0x60_2010), (Some((0x60_2000, 0x60_3000)), None));
        assert_eq!(m.set_brk(0x60_2020), (None, None));
        m.insert(anon(0x60_5000, 0x60_6000));
        assert_eq!(m.set_brk(0x60_5800), (None, None));
        assert_eq!(m.brk(), 0x60_2020);
        assert_eq!(m.set_brk(0x60_2000), (None, Some((0x60_2000, 0x60_3000))));
        assert_eq!(m.set_brk(0x10), (None, None));
    }

    #[test]
    fn prot_refuses_write_with_exec_and_unknown_bits() {
        assert_eq!(Prot::from_bits(6), Err(Errno::EACCES));
        assert_eq!(Prot::from_bits(8), Err(Errno::EINVAL));
        assert_eq!(Prot::from_bits(5), Ok(Prot(5)));
    }
}
