//! Physical memory for environments: frame allocation, secure bindings
//! (map/unmap/protect checked against frame capabilities, W^X), and the
//! unmapping that revocation implies.

use exo_abi::{Error, access};
use hal::UserContext;
use hal::mmu::{Access, AddressSpaceOps, PAGE_SIZE};

use super::{Allocation, Kernel, Mapping, Platform, cap_error, map_error};
use crate::cap::{CapHandle, Capability, EnvId, Resource, Rights};

/// Decodes an `access` word: only defined bits, never write + execute.
pub(super) fn decode_access(word: u64) -> Result<Access, Error> {
    if word & !access::ALL != 0 {
        return Err(Error::InvalidArgument);
    }
    let a = Access {
        write: word & access::WRITE != 0,
        execute: word & access::EXECUTE != 0,
        device: false,
    };
    if a.write && a.execute {
        return Err(Error::InvalidArgument);
    }
    Ok(a)
}

/// The rights a mapping with `access` needs.
fn rights_for(a: Access) -> Rights {
    let mut r = Rights::READ | Rights::MAP;
    if a.write {
        r |= Rights::WRITE;
    }
    if a.execute {
        r |= Rights::EXECUTE;
    }
    r
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// Turns a handle register of `env` into a live handle.
    pub(super) fn handle(&self, env: EnvId, raw: u64) -> Result<CapHandle, Error> {
        let (index, generation) = exo_abi::decode_handle(raw);
        self.caps
            .resolve(env, index, generation, 64 - exo_abi::HANDLE_INDEX_BITS)
            .map_err(cap_error)
    }

    /// `FRAME_ALLOC(count, flags)`.
    pub(super) fn frame_alloc(&mut self, env: EnvId, count: u64, flags: u64) -> Result<u64, Error> {
        if flags != 0 || count == 0 || count > exo_abi::MAX_FRAME_ALLOC {
            return Err(Error::InvalidArgument);
        }
        let quota = self.config.frame_quota;
        let e = self.env(env).ok_or(Error::NoSuchEnvironment)?;
        if e.quota_used.saturating_add(count) > quota {
            return Err(Error::NoMemory);
        }
        let handle = self.grant_frames(env, count, Rights::all(), true)?;
        Ok(exo_abi::encode_handle(handle.index, handle.generation))
    }

    /// `DMA_ALLOC(count, limit)`: like `FRAME_ALLOC`, with every byte
    /// below `limit` (0: anywhere); returns the handle and the physical
    /// address a device is to be programmed with.
    pub(super) fn dma_alloc(
        &mut self,
        env: EnvId,
        count: u64,
        limit: u64,
    ) -> Result<[u64; 2], Error> {
        if count == 0 || count > exo_abi::MAX_FRAME_ALLOC {
            return Err(Error::InvalidArgument);
        }
        let e = self.env(env).ok_or(Error::NoSuchEnvironment)?;
        if e.quota_used.saturating_add(count) > self.config.frame_quota {
            return Err(Error::NoMemory);
        }
        let limit = if limit == 0 { u64::MAX } else { limit };
        let handle = self.grant_frames_below(env, count, limit, Rights::all(), true)?;
        let phys = self
            .env(env)
            .and_then(|e| e.allocations.last())
            .map_or(0, |a| a.phys);
        Ok([
            exo_abi::encode_handle(handle.index, handle.generation),
            phys,
        ])
    }

    /// Allocates `count` frames, creates a root capability for them in
    /// `env`'s table and records the allocation as `env`'s.
    pub(super) fn grant_frames(
        &mut self,
        env: EnvId,
        count: u64,
        rights: Rights,
        quota: bool,
    ) -> Result<CapHandle, Error> {
        self.grant_frames_below(env, count, u64::MAX, rights, quota)
    }

    fn grant_frames_below(
        &mut self,
        env: EnvId,
        count: u64,
        limit: u64,
        rights: Rights,
        quota: bool,
    ) -> Result<CapHandle, Error> {
        let phys = self
            .platform
            .alloc_frames(count, limit)
            .ok_or(Error::NoMemory)?;
        let cap = Capability::new(
            Resource::Frames {
                first: phys / PAGE_SIZE,
                count,
            },
            rights,
            self.config.clearance,
        );
        let root = match self.caps.create(&self.root, env, cap) {
            Ok(h) => h,
            Err(e) => {
                self.platform.free_frames(phys, count);
                return Err(cap_error(e));
            }
        };
        let Some(e) = self.env_mut(env) else {
            self.platform.free_frames(phys, count);
            return Err(Error::NoSuchEnvironment);
        };
        e.allocations.push(Allocation {
            phys,
            count,
            root,
            quota,
        });
        if quota {
            e.quota_used += count;
        }
        Ok(root)
    }

    /// `FRAME_FREE(handle)`: only the root capability of an allocation.
    pub(super) fn frame_free(&mut self, env: EnvId, raw: u64) -> Result<u64, Error> {
        let handle = self.handle(env, raw)?;
        let e = self.env_mut(env).ok_or(Error::NoSuchEnvironment)?;
        let at = e
            .allocations
            .iter()
            .position(|a| a.root == handle)
            .ok_or(Error::PermissionDenied)?;
        let allocation = e.allocations.swap_remove(at);
        if allocation.quota {
            e.quota_used -= allocation.count;
        }
        self.revoke_and_unmap(env, allocation.root, true)?;
        self.platform.free_frames(allocation.phys, allocation.count);
        Ok(0)
    }

    /// `MAP(handle, index, va, access)`: the secure binding.
    pub(super) fn map(
        &mut self,
        env: EnvId,
        raw: u64,
        index: u64,
        va: u64,
        access_word: u64,
    ) -> Result<u64, Error> {
        let mut a = decode_access(access_word)?;
        let handle = self.handle(env, raw)?;
        let cap = self.caps.lookup(env, handle).map_err(cap_error)?;
        cap.require(rights_for(a)).map_err(cap_error)?;
        let phys = match cap.resource {
            Resource::Frames { first, count } if index < count => first + index,
            Resource::Mmio { base, len }
                if base.is_multiple_of(PAGE_SIZE) && index < len / PAGE_SIZE && !a.execute =>
            {
                a.device = true;
                base / PAGE_SIZE + index
            }
            Resource::Frames { .. } | Resource::Mmio { .. } => return Err(Error::InvalidArgument),
            _ => return Err(Error::WrongKind),
        }
        .checked_mul(PAGE_SIZE)
        .ok_or(Error::InvalidArgument)?;
        let Some(e) = self.envs.get_mut(env.0 as usize).and_then(Option::as_mut) else {
            return Err(Error::NoSuchEnvironment);
        };
        e.space
            .map(va, phys, a, self.platform.page_tables())
            .map_err(map_error)?;
        e.mappings.insert(va, Mapping { cap: handle, phys });
        Ok(0)
    }

    /// `UNMAP(va)`.
    pub(super) fn unmap(&mut self, env: EnvId, va: u64) -> Result<u64, Error> {
        let e = self.env_mut(env).ok_or(Error::NoSuchEnvironment)?;
        hal::mmu::check_user_page::<P::Space>(va).map_err(map_error)?;
        if e.mappings.remove(&va).is_none() {
            return Err(Error::NotMapped);
        }
        e.space.unmap(va).map_err(map_error)?;
        Ok(0)
    }

    /// `PROTECT(va, access)`: re-checked against the mapping's capability.
    pub(super) fn protect(&mut self, env: EnvId, va: u64, access_word: u64) -> Result<u64, Error> {
        let a = decode_access(access_word)?;
        hal::mmu::check_user_page::<P::Space>(va).map_err(map_error)?;
        let mapping = *self
            .env(env)
            .ok_or(Error::NoSuchEnvironment)?
            .mappings
            .get(&va)
            .ok_or(Error::NotMapped)?;
        let cap = self.caps.lookup(env, mapping.cap).map_err(cap_error)?;
        cap.require(rights_for(a)).map_err(cap_error)?;
        let e = self.env_mut(env).ok_or(Error::NoSuchEnvironment)?;
        e.space.protect(va, a).map_err(map_error)?;
        Ok(0)
    }

    /// Revokes `handle` in `env` (`as_root`: on the kernel's authority,
    /// without the `REVOKE` right) and removes every mapping any dying
    /// capability authorised, in every environment.
    pub(super) fn revoke_and_unmap(
        &mut self,
        env: EnvId,
        handle: CapHandle,
        as_root: bool,
    ) -> Result<u64, Error> {
        let mut killed = alloc::vec::Vec::new();
        let note = |e, index| killed.push((e, index));
        let count = if as_root {
            self.caps.revoke_as_root(&self.root, env, handle, note)
        } else {
            self.caps.revoke_with(env, handle, note)
        }
        .map_err(cap_error)?;
        for (e, index) in killed {
            self.unmap_slot(e, index);
        }
        Ok(count as u64)
    }

    /// `CAP_DELETE(handle)`: drops one capability and the mappings it
    /// authorised.
    pub(super) fn delete_and_unmap(&mut self, env: EnvId, raw: u64) -> Result<u64, Error> {
        let handle = self.handle(env, raw)?;
        let owned = self
            .env(env)
            .is_some_and(|e| e.allocations.iter().any(|a| a.root == handle));
        if owned {
            // An allocation's root goes back with FRAME_FREE.
            return Err(Error::PermissionDenied);
        }
        self.caps.delete(env, handle).map_err(cap_error)?;
        self.unmap_slot(env, handle.index);
        Ok(0)
    }

    /// Removes `env`'s mappings authorised by slot `index`.
    fn unmap_slot(&mut self, env: EnvId, index: u32) {
        let Some(e) = self.env_mut(env) else {
            return;
        };
        let dead: alloc::vec::Vec<u64> = e
            .mappings
            .iter()
            .filter(|(_, m)| m.cap.index == index)
            .map(|(&va, _)| va)
            .collect();
        for va in dead {
            e.mappings.remove(&va);
            let _ = e.space.unmap(va);
        }
    }
}
