//! Creating an environment from a static ELF executable.
//!
//! The kernel validates the image ([`crate::elf`]), builds an address
//! space, and for each loadable segment allocates frames, names them with a
//! frames capability in the new environment's table (rights matching the
//! segment, so the environment can later remap or share its own memory but
//! never make its code writable), copies the file bytes and maps the pages.
//! A stack follows. Any failure tears the half-built environment down.

use exo_abi::Error;
use hal::UserContext;
use hal::mmu::{Access, AddressSpaceOps, PAGE_SIZE};

use super::{Env, ExitReason, Kernel, Mapping, Platform, State};
use crate::cap::{CapHandle, EnvId, Rights};
use crate::elf::{self, ElfError};

/// Pages of stack every environment starts with.
pub const STACK_PAGES: u64 = 16;

/// Why an environment could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The image was refused.
    #[error("{0}")]
    Elf(#[from] ElfError),
    /// Every environment id is in use.
    #[error("no free environment id")]
    NoFreeId,
    /// A resource ran out or a capability operation failed.
    #[error("{0}")]
    Resource(Error),
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// Creates a runnable environment named `name` from `image` and gives
    /// it one slot of the time-slice vector. Its first argument register
    /// holds its own id.
    ///
    /// # Errors
    /// [`SpawnError`].
    pub fn spawn(&mut self, name: &str, image: &[u8]) -> Result<EnvId, SpawnError> {
        let id = self.create(name, image)?;
        self.make_runnable(id);
        Ok(id)
    }

    /// Creates a runnable environment with a stack and no image, for a
    /// hosted backend whose "user code" is host code calling the ABI: the
    /// kernel-side state (address space, capability table, slice, frames)
    /// is the same as for any environment.
    ///
    /// # Errors
    /// [`SpawnError`].
    pub fn spawn_empty(&mut self, name: &str) -> Result<EnvId, SpawnError> {
        let id = self.register(name, 0)?;
        let stack_top = <P::Space as AddressSpaceOps>::USER_END - PAGE_SIZE;
        let base = stack_top - STACK_PAGES * PAGE_SIZE;
        if let Err(e) = self.populate(
            id,
            base,
            STACK_PAGES,
            Access::READ_WRITE,
            Rights::READ | Rights::WRITE,
        ) {
            self.destroy(id, ExitReason::Exited(u64::MAX));
            self.exits.pop();
            return Err(SpawnError::Resource(e));
        }
        self.make_runnable(id);
        Ok(id)
    }

    /// Makes a suspended environment runnable with a slot of the slice
    /// vector.
    pub(super) fn make_runnable(&mut self, id: EnvId) {
        if let Some(e) = self.env_mut(id)
            && e.state == State::Suspended
        {
            e.state = State::Runnable;
            let serial = self.slices.add(id);
            // The capability that lets it hand its slot to someone else.
            let cpu = crate::cap::Capability::new(
                crate::cap::Resource::CpuTime {
                    core: 0,
                    first: serial,
                    count: 1,
                },
                Rights::all(),
                self.config.clearance,
            );
            if let Err(e) = self.caps.create(&self.root, id, cpu) {
                log::warn!("env {}: no CPU-time capability: {e}", id.0);
            }
        }
    }

    /// Creates a suspended environment from `image` (see [`spawn`](Self::spawn)).
    ///
    /// # Errors
    /// [`SpawnError`].
    pub(super) fn create(&mut self, name: &str, image: &[u8]) -> Result<EnvId, SpawnError> {
        let user_start = <P::Space as AddressSpaceOps>::USER_START;
        let user_end = <P::Space as AddressSpaceOps>::USER_END;
        let parsed = elf::parse(image, P::ELF_MACHINE, user_start, user_end, PAGE_SIZE)?;
        let id = self.register(name, parsed.entry)?;
        let stack_top = user_end - PAGE_SIZE;
        let loaded = parsed
            .segments
            .iter()
            .try_for_each(|s| self.load_segment(id, image, s))
            .and_then(|()| {
                let base = stack_top - STACK_PAGES * PAGE_SIZE;
                self.populate(
                    id,
                    base,
                    STACK_PAGES,
                    Access::READ_WRITE,
                    Rights::READ | Rights::WRITE,
                )
                .map(|_| ())
            });
        if let Err(e) = loaded {
            self.destroy(id, ExitReason::Exited(u64::MAX));
            self.exits.pop();
            return Err(SpawnError::Resource(e));
        }
        Ok(id)
    }

    /// Takes a free id, registers its capability table and builds an empty
    /// address space; the environment starts at `entry`, suspended.
    fn register(&mut self, name: &str, entry: u64) -> Result<EnvId, SpawnError> {
        let user_end = <P::Space as AddressSpaceOps>::USER_END;
        let slot = self
            .envs
            .iter()
            .enumerate()
            .position(|(slot, e)| {
                e.is_none() && !self.ended.iter().any(|z| z.env.0 as usize == slot)
            })
            .ok_or(SpawnError::NoFreeId)?;
        let id = EnvId(u32::try_from(slot).map_err(|_| SpawnError::NoFreeId)?);
        self.caps
            .register_env(&self.root, id, self.config.clearance)
            .map_err(|e| SpawnError::Resource(super::cap_error(e)))?;
        let space = match self.platform.new_space() {
            Ok(space) => space,
            Err(e) => {
                let _ = self.caps.unregister_env(&self.root, id);
                return Err(SpawnError::Resource(super::map_error(e)));
            }
        };
        let stack_top = user_end - PAGE_SIZE;
        let mut env_name = arrayvec::ArrayString::new();
        for c in name.chars() {
            if env_name.try_push(c).is_err() {
                break;
            }
        }
        self.envs[slot] = Some(Env {
            id,
            name: env_name,
            space,
            // As if `_start` had been called: the return-address slot makes
            // RSP ≡ 8 (mod 16) at entry, as the SysV ABI expects.
            context: C::new_user(entry, stack_top - 8, u64::from(id.0)),
            state: State::Suspended,
            mappings: alloc::collections::BTreeMap::new(),
            allocations: alloc::vec::Vec::new(),
            quota_used: 0,
            syscalls: 0,
            upcall: None,
            in_upcall: false,
            grace: false,
            pending_irqs: 0,
            irq_upcalls: 0,
            tls: 0,
            fpu: P::Fpu::default(),
            handle_root: None,
        });
        Ok(id)
    }

    /// Allocates and maps the pages of one segment and copies its bytes.
    fn load_segment(&mut self, id: EnvId, image: &[u8], s: &elf::Segment) -> Result<(), Error> {
        let start = s.page_start(PAGE_SIZE);
        let pages = (s.page_end(PAGE_SIZE) - start) / PAGE_SIZE;
        let access = Access {
            write: s.write,
            execute: s.execute,
            device: false,
        };
        let mut rights = Rights::READ;
        if s.write {
            rights |= Rights::WRITE;
        }
        if s.execute {
            rights |= Rights::EXECUTE;
        }
        let phys = self.populate(id, start, pages, access, rights)?;
        // The file bytes, frame by frame (frames are contiguous).
        let from = usize::try_from(s.file_offset).map_err(|_| Error::InvalidArgument)?;
        let len = usize::try_from(s.file_len).map_err(|_| Error::InvalidArgument)?;
        let bytes = image.get(from..from + len).ok_or(Error::InvalidArgument)?;
        let mut at = phys + (s.vaddr - start);
        for chunk in bytes.chunks(PAGE_SIZE as usize) {
            // A chunk may straddle a frame boundary; split it.
            let room = (PAGE_SIZE - at % PAGE_SIZE) as usize;
            let (a, b) = chunk.split_at(room.min(chunk.len()));
            self.platform.write_phys(at, a);
            if !b.is_empty() {
                self.platform.write_phys(at + a.len() as u64, b);
            }
            at += chunk.len() as u64;
        }
        Ok(())
    }

    /// Gives `id` `pages` fresh frames mapped at `va` with `access`, named
    /// by a new frames capability with `rights` (plus map, grant, derive);
    /// returns the first frame's physical address.
    fn populate(
        &mut self,
        id: EnvId,
        va: u64,
        pages: u64,
        access: Access,
        rights: Rights,
    ) -> Result<u64, Error> {
        let rights = rights | Rights::MAP | Rights::GRANT | Rights::DERIVE;
        let handle: CapHandle = self.grant_frames(id, pages, rights, false)?;
        let phys = self
            .env(id)
            .and_then(|e| e.allocations.last())
            .map(|a| a.phys)
            .ok_or(Error::NoSuchEnvironment)?;
        let Some(e) = self.envs.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return Err(Error::NoSuchEnvironment);
        };
        for i in 0..pages {
            let page_va = va + i * PAGE_SIZE;
            let page_pa = phys + i * PAGE_SIZE;
            e.space
                .map(page_va, page_pa, access, self.platform.page_tables())
                .map_err(super::map_error)?;
            e.mappings.insert(
                page_va,
                Mapping {
                    cap: handle,
                    phys: page_pa,
                },
            );
        }
        Ok(phys)
    }
}
