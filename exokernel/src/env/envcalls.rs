//! Environments managing environments: create from an ELF image in frames
//! the caller holds, start, destroy (by environment capability), and
//! donate the rest of a time slice.

use alloc::vec::Vec;

use exo_abi::Error;
use hal::UserContext;
use hal::mmu::PAGE_SIZE;

use super::{ExitReason, Kernel, Next, Platform, State, cap_error};
use crate::cap::{Capability, EnvId, Resource, Rights};

/// Largest image `ENV_CREATE` copies (16 MiB).
pub const MAX_IMAGE: u64 = 16 << 20;

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// `ENV_CREATE(frames handle, image length)`: a suspended environment
    /// built from the first `len` bytes of the frames; returns its id and
    /// an environment capability (all rights) for it.
    pub(super) fn env_create(&mut self, me: EnvId, raw: u64, len: u64) -> Result<[u64; 2], Error> {
        let handle = self.handle(me, raw)?;
        let cap = self.caps.lookup(me, handle).map_err(cap_error)?;
        let Resource::Frames { first, count } = cap.resource else {
            return Err(Error::WrongKind);
        };
        cap.require(Rights::READ).map_err(cap_error)?;
        if len == 0 || len > MAX_IMAGE || len > count.saturating_mul(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        // Copy the image out of the caller's frames (contiguous by
        // construction of frames capabilities), a page at a time.
        let mut image = Vec::new();
        image
            .try_reserve_exact(len as usize)
            .map_err(|_| Error::NoMemory)?;
        image.resize(len as usize, 0);
        for (i, chunk) in image.chunks_mut(PAGE_SIZE as usize).enumerate() {
            self.platform
                .read_phys((first + i as u64) * PAGE_SIZE, chunk);
        }
        let id = self.create("child", &image).map_err(|e| match e {
            super::SpawnError::Elf(_) => Error::InvalidArgument,
            super::SpawnError::NoFreeId => Error::NoMemory,
            super::SpawnError::Resource(e) => e,
        })?;
        let env_cap = Capability::new(
            Resource::Environment {
                first: u64::from(id.0),
                count: 1,
            },
            Rights::all(),
            self.config.clearance,
        );
        match self.caps.create(&self.root, me, env_cap) {
            Ok(h) => {
                if let Some(e) = self.env_mut(id) {
                    e.handle_root = Some((me, h));
                }
                Ok([
                    u64::from(id.0),
                    exo_abi::encode_handle(h.index, h.generation),
                ])
            }
            Err(e) => {
                self.destroy(id, ExitReason::Exited(u64::MAX));
                self.exits.pop();
                Err(cap_error(e))
            }
        }
    }

    /// The environment an environment capability of `me` names, if it
    /// carries `needs`.
    fn target(&self, me: EnvId, raw: u64, needs: Rights) -> Result<EnvId, Error> {
        let id = self.named(me, raw, needs)?;
        self.env(id).map(|_| id).ok_or(Error::NoSuchEnvironment)
    }

    /// The environment id an environment capability of `me` names, if it
    /// carries `needs`, whether that environment runs or has ended.
    fn named(&self, me: EnvId, raw: u64, needs: Rights) -> Result<EnvId, Error> {
        let handle = self.handle(me, raw)?;
        let cap = self.caps.lookup(me, handle).map_err(cap_error)?;
        let Resource::Environment { first, count } = cap.resource else {
            return Err(Error::WrongKind);
        };
        cap.require(needs).map_err(cap_error)?;
        if count != 1 {
            return Err(Error::InvalidArgument);
        }
        u32::try_from(first)
            .map(EnvId)
            .map_err(|_| Error::NoSuchEnvironment)
    }

    /// `ENV_START(env handle)`: needs `WRITE` (control) on it.
    pub(super) fn env_start(&mut self, me: EnvId, raw: u64) -> Result<u64, Error> {
        let id = self.target(me, raw, Rights::WRITE)?;
        if self.env(id).is_some_and(|e| e.state != State::Suspended) {
            return Err(Error::InvalidArgument);
        }
        self.make_runnable(id);
        Ok(0)
    }

    /// `ENV_DESTROY(env handle)`: needs `REVOKE` on it. Ends the
    /// environment and reaps it (its handles die), or reaps one that has
    /// already ended without anyone collecting its status.
    pub(super) fn env_destroy(&mut self, me: EnvId, raw: u64, context: &mut C) -> Next {
        match self.named(me, raw, Rights::REVOKE) {
            Ok(id) if id == me => {
                self.destroy(me, ExitReason::Exited(u64::MAX));
                self.reap(me);
                self.reschedule(context)
            }
            Ok(id) if self.env(id).is_some() => {
                self.destroy(id, ExitReason::Exited(u64::MAX));
                self.reap(id);
                context.set_results(&[0]);
                Next::Resume
            }
            Ok(id) => {
                let e = self
                    .reap(id)
                    .map_or(Error::NoSuchEnvironment.to_raw(), |_| 0);
                context.set_results(&[e]);
                Next::Resume
            }
            Err(e) => {
                context.set_results(&[e.to_raw()]);
                Next::Resume
            }
        }
    }

    /// `ENV_WAIT(env handle)`: blocks until the environment the handle
    /// names ends; the result is its [`exo_abi::exit_status`] word. Needs
    /// `READ` on the handle. An environment that already ended returns its
    /// word at once. Either way the status is collected once: the handle
    /// is revoked and a second wait finds it dead.
    pub(super) fn env_wait(&mut self, me: EnvId, raw: u64, context: &mut C) -> Next {
        match self.named(me, raw, Rights::READ) {
            Ok(target) if target == me => {
                context.set_results(&[Error::Deadlock.to_raw()]);
                Next::Resume
            }
            Ok(target) if self.env(target).is_none() => {
                let word = self
                    .reap(target)
                    .unwrap_or(Error::NoSuchEnvironment.to_raw());
                context.set_results(&[word]);
                Next::Resume
            }
            Ok(target) => {
                self.save(context);
                if let Some(e) = self.env_mut(me) {
                    e.state = State::WaitingEnv { target };
                }
                self.reschedule(context)
            }
            Err(e) => {
                context.set_results(&[e.to_raw()]);
                Next::Resume
            }
        }
    }

    /// `YIELD_TO(env)`: runs `env` now on the rest of the caller's slice.
    pub(super) fn yield_to(&mut self, me: EnvId, to: u64, context: &mut C) -> Next {
        let target = u32::try_from(to).ok().map(EnvId);
        let runnable = target
            .and_then(|t| self.env(t))
            .is_some_and(|e| e.state == State::Runnable);
        match target {
            Some(t) if runnable && t != me => {
                context.set_results(&[0]);
                self.save(context);
                self.switch_to(t, context)
            }
            Some(t) if t == me => {
                context.set_results(&[0]);
                Next::Resume
            }
            _ => {
                let e = if target.and_then(|t| self.env(t)).is_some() {
                    Error::InvalidArgument
                } else {
                    Error::NoSuchEnvironment
                };
                context.set_results(&[e.to_raw()]);
                Next::Resume
            }
        }
    }
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// `SLICE_ASSIGN(cpu handle, env)`: the slots a CPU-time capability
    /// names are run by `env` from now on; needs `WRITE` on it. Returns how
    /// many slots changed hands.
    pub(super) fn slice_assign(&mut self, me: EnvId, raw: u64, to: u64) -> Result<u64, Error> {
        let handle = self.handle(me, raw)?;
        let cap = self.caps.lookup(me, handle).map_err(cap_error)?;
        let Resource::CpuTime { first, count, .. } = cap.resource else {
            return Err(Error::WrongKind);
        };
        cap.require(Rights::WRITE).map_err(cap_error)?;
        let to = u32::try_from(to)
            .ok()
            .map(EnvId)
            .filter(|&t| self.env(t).is_some())
            .ok_or(Error::NoSuchEnvironment)?;
        let mut moved = 0;
        for serial in first..first.saturating_add(count.min(1024)) {
            if self.slices.assign(serial, to) {
                moved += 1;
            }
        }
        Ok(moved)
    }
}
