//! `CapSpace`: the kernel's capability system — tables, derivation forest
//! and key — and the operations the rest of the kernel calls.
//!
//! Concurrency design (details and proofs in `docs/CAPABILITIES.md`):
//!
//! * **Writers** (`create`, `derive`, `transfer`, `revoke`,
//!   `register_env`) serialise on one tree lock. They are rare and their
//!   critical sections are short (a revoke is O(descendants)).
//! * **Readers** (`lookup`, `verify`, `mint`) take no lock and write no
//!   shared memory. They validate a slot against the generation in their
//!   handle or token, inside a global *revocation seqlock*: `revoke` makes
//!   the sequence odd, kills the whole subtree, and makes it even again; a
//!   reader that saw the sequence change (or odd) retries. So a reader
//!   observes a revocation entirely or not at all, and verification is O(1)
//!   (a constant number of atomic loads) whenever no revocation is running.
//! * **Derive vs. revoke**: derive re-validates the parent's generation
//!   under the tree lock, so it is ordered entirely before a revoke of its
//!   parent (and the child is revoked with it) or entirely after (and fails
//!   with [`CapError::Revoked`]).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crossbeam_utils::CachePadded;

use super::capability::Capability;
use super::error::CapError;
use super::handle::{CapHandle, EnvId};
use super::key::CapKey;
use super::level::Level;
use super::revocation::Forest;
use super::rights::Rights;
use super::sync::{AtomicU64, Backoff, Mutex, Ordering, fence};
use super::table::{CapTable, Slot, is_live};
use super::token::{Token, TokenClaims, UnverifiedToken};

/// Dimensions of a capability space, fixed at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSpaceConfig {
    /// Number of environment tables (environment ids `0..max_envs`).
    pub max_envs: u32,
    /// Capacity of each environment's table.
    pub slots_per_env: u32,
}

/// The boot-time authority to create capabilities from nothing and to
/// register environments.
///
/// Exactly one exists per [`CapSpace`], returned by [`CapSpace::new`]; it is
/// not `Clone`, and environments cannot name kernel values, so it cannot be
/// forged. Holding it is holding the root capability.
#[derive(Debug)]
#[must_use]
pub struct RootAuthority {
    _private: (),
}

/// A successfully verified token: the handle it names in the presenter's
/// table and the capability it grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The live slot in the presenting environment's table.
    pub handle: CapHandle,
    /// What the capability grants.
    pub cap: Capability,
}

/// The capability system.
pub struct CapSpace {
    key: CapKey,
    config: CapSpaceConfig,
    tables: Box<[CapTable]>,
    tree: Mutex<Forest>,
    /// Revocation seqlock: odd while a revocation is killing a subtree.
    revoke_seq: CachePadded<AtomicU64>,
}

impl CapSpace {
    /// Builds an empty capability space keyed with `key` and returns it with
    /// its one [`RootAuthority`].
    ///
    /// # Errors
    /// [`CapError::InvalidConfig`] for a zero dimension, more than
    /// `u32::MAX - 1` slots in all, or a failed allocation.
    pub fn new(key: CapKey, config: CapSpaceConfig) -> Result<(Self, RootAuthority), CapError> {
        let forest = Forest::new(config.max_envs, config.slots_per_env)?;
        let mut tables = Vec::new();
        tables
            .try_reserve_exact(config.max_envs as usize)
            .map_err(|_| CapError::InvalidConfig)?;
        for env in 0..config.max_envs {
            tables.push(CapTable::new(EnvId(env), config.slots_per_env)?);
        }
        let space = Self {
            key,
            config,
            tables: tables.into_boxed_slice(),
            tree: Mutex::new(forest),
            revoke_seq: CachePadded::new(AtomicU64::new(0)),
        };
        Ok((space, RootAuthority { _private: () }))
    }

    /// The dimensions this space was built with.
    #[must_use]
    pub fn config(&self) -> CapSpaceConfig {
        self.config
    }

    /// Registers environment `env` with security clearance `clearance`.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`] if `env` is out of range,
    /// [`CapError::AlreadyRegistered`] if it was registered before.
    pub fn register_env(
        &self,
        _root: &RootAuthority,
        env: EnvId,
        clearance: Level,
    ) -> Result<(), CapError> {
        let table = self
            .tables
            .get(env.0 as usize)
            .ok_or(CapError::UnknownEnvironment(env))?;
        let _tree = self.tree.lock();
        if table.clearance().is_some() {
            return Err(CapError::AlreadyRegistered(env));
        }
        table.set_clearance(clearance);
        Ok(())
    }

    /// The table of a registered environment.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`].
    pub fn table(&self, env: EnvId) -> Result<&CapTable, CapError> {
        self.registered(env).map(|(table, _)| table)
    }

    fn registered(&self, env: EnvId) -> Result<(&CapTable, Level), CapError> {
        let table = self
            .tables
            .get(env.0 as usize)
            .ok_or(CapError::UnknownEnvironment(env))?;
        let clearance = table.clearance().ok_or(CapError::UnknownEnvironment(env))?;
        Ok((table, clearance))
    }

    /// Number of live capabilities in `env`'s table.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`].
    pub fn live_caps(&self, env: EnvId) -> Result<usize, CapError> {
        self.registered(env)?;
        Ok(self.tree.lock().live(env.0))
    }

    /// **create**: mints a new root capability `cap` into `env`'s table.
    ///
    /// Only boot code holding the [`RootAuthority`] can do this; every other
    /// capability descends from one created here.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::InvalidResource`],
    /// [`CapError::AboveClearance`] if `cap.level` exceeds the
    /// environment's clearance, [`CapError::TableFull`].
    pub fn create(
        &self,
        _root: &RootAuthority,
        env: EnvId,
        cap: Capability,
    ) -> Result<CapHandle, CapError> {
        let (table, clearance) = self.registered(env)?;
        cap.resource.validate()?;
        if !clearance.dominates(cap.level) {
            return Err(CapError::AboveClearance);
        }
        let mut tree = self.tree.lock();
        Self::install(&mut tree, table, None, &cap)
    }

    /// **derive**: a child of `parent` (in `env`'s table) described by
    /// `request`, installed in the same table.
    ///
    /// The parent needs [`Rights::DERIVE`]; the request must be an
    /// attenuation of the parent (see [`Capability::attenuate`]).
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`] (parent revoked or stale handle),
    /// [`CapError::MissingRight`], the attenuation errors,
    /// [`CapError::TableFull`].
    pub fn derive(
        &self,
        env: EnvId,
        parent: CapHandle,
        request: Capability,
    ) -> Result<CapHandle, CapError> {
        let (table, _) = self.registered(env)?;
        let mut tree = self.tree.lock();
        let parent_cap = Self::read_locked(table, parent)?;
        parent_cap.require(Rights::DERIVE)?;
        let child = parent_cap.attenuate(&request)?;
        let parent_id = tree.id(env.0, parent.index);
        Self::install(&mut tree, table, Some(parent_id), &child)
    }

    /// **transfer**: gives a copy of `cap` (in `from`'s table), restricted to
    /// `rights`, to environment `to`.
    ///
    /// The copy is linked as a child of the original, so revoking the
    /// original revokes it. Needs [`Rights::GRANT`], the IPC flow rule
    /// (`clearance(from) ≤ clearance(to)`) and `level(cap) ≤ clearance(to)`.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`], [`CapError::MissingRight`],
    /// [`CapError::FlowViolation`], [`CapError::AboveClearance`],
    /// [`CapError::RightsAmplification`], [`CapError::TableFull`].
    pub fn transfer(
        &self,
        from: EnvId,
        cap: CapHandle,
        to: EnvId,
        rights: Rights,
    ) -> Result<CapHandle, CapError> {
        let (src, src_level) = self.registered(from)?;
        let (dst, dst_level) = self.registered(to)?;
        let mut tree = self.tree.lock();
        let source = Self::read_locked(src, cap)?;
        source.require(Rights::GRANT)?;
        if !src_level.can_flow_to(dst_level) {
            return Err(CapError::FlowViolation);
        }
        if !dst_level.dominates(source.level) {
            return Err(CapError::AboveClearance);
        }
        let copy = source.attenuate(&source.with_rights(rights))?;
        let parent_id = tree.id(from.0, cap.index);
        Self::install(&mut tree, dst, Some(parent_id), &copy)
    }

    /// **revoke**: invalidates `cap` and, transitively, everything derived
    /// or transferred from it, in every environment; returns how many
    /// capabilities died. Needs [`Rights::REVOKE`].
    ///
    /// Atomic with respect to readers: no `lookup`/`verify` observes part of
    /// the subtree revoked and part live. The slots are freed for reuse
    /// under new generations, so old handles and tokens stay dead.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`] (already revoked), [`CapError::MissingRight`].
    pub fn revoke(&self, env: EnvId, cap: CapHandle) -> Result<usize, CapError> {
        self.revoke_with(env, cap, |_, _| {})
    }

    /// [`revoke`](Self::revoke), calling `killed(env, slot index)` for every
    /// capability that dies (under the tree lock, before any of those slots
    /// can be reused), so the caller can tear down what they authorised —
    /// page mappings, IRQ bindings.
    ///
    /// # Errors
    /// As [`revoke`](Self::revoke).
    pub fn revoke_with(
        &self,
        env: EnvId,
        cap: CapHandle,
        killed: impl FnMut(EnvId, u32),
    ) -> Result<usize, CapError> {
        self.revoke_inner(env, cap, Some(Rights::REVOKE), killed)
    }

    /// [`revoke_with`](Self::revoke_with) on the kernel's own authority,
    /// without the `REVOKE` right: for reclaiming memory the kernel handed
    /// out (an environment frees an allocation or dies).
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`].
    pub fn revoke_as_root(
        &self,
        _root: &RootAuthority,
        env: EnvId,
        cap: CapHandle,
        killed: impl FnMut(EnvId, u32),
    ) -> Result<usize, CapError> {
        self.revoke_inner(env, cap, None, killed)
    }

    fn revoke_inner(
        &self,
        env: EnvId,
        cap: CapHandle,
        needs: Option<Rights>,
        mut killed: impl FnMut(EnvId, u32),
    ) -> Result<usize, CapError> {
        let (table, _) = self.registered(env)?;
        let mut tree = self.tree.lock();
        let capability = Self::read_locked(table, cap)?;
        if let Some(rights) = needs {
            capability.require(rights)?;
        }
        let root = tree.id(env.0, cap.index);
        let tables = &self.tables;
        // Seqlock writer: sequence odd, then (release fence) the kills, then
        // sequence even with release. Writers are serialised by the tree
        // lock, so a plain load/store pair suffices for the increments.
        let seq = self.revoke_seq.load(Ordering::Relaxed);
        self.revoke_seq
            .store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let count = tree.revoke_subtree(root, |env, index| {
            killed(EnvId(env), index);
            tables
                .get(env as usize)
                .and_then(|t| t.slot(index).ok())
                .is_some_and(Slot::kill)
        });
        self.revoke_seq
            .store(seq.wrapping_add(2), Ordering::Release);
        Ok(count)
    }

    /// The first live capability of `env` at slot `from` or later (for an
    /// environment to enumerate its table).
    #[must_use]
    pub fn next_live(&self, env: EnvId, from: u32) -> Option<CapHandle> {
        let (table, _) = self.registered(env).ok()?;
        (from..self.config.slots_per_env).find_map(|index| {
            let generation = table.slot(index).ok()?.generation(Ordering::Acquire);
            is_live(generation).then_some(CapHandle { index, generation })
        })
    }

    /// The handle of live slot `index` in `env`'s table whose generation
    /// ends in `generation_low` (its low `bits` bits): how a handle that
    /// crossed the system-call boundary in one register (index plus
    /// truncated generation, see `exo_abi::encode_handle`) is turned back
    /// into a full [`CapHandle`].
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`] if the slot is dead or its generation differs.
    pub fn resolve(
        &self,
        env: EnvId,
        index: u32,
        generation_low: u64,
        bits: u32,
    ) -> Result<CapHandle, CapError> {
        let (table, _) = self.registered(env)?;
        let generation = table.slot(index)?.generation(Ordering::Acquire);
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        if !is_live(generation) || generation & mask != generation_low {
            return Err(CapError::Revoked);
        }
        Ok(CapHandle { index, generation })
    }

    /// **delete**: drops `cap` from `env`'s table without revoking what was
    /// derived or transferred from it; those move up to `cap`'s parent, so
    /// revoking any ancestor still reaches them. Needs no right: holding a
    /// capability is enough to give it up.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`].
    pub fn delete(&self, env: EnvId, cap: CapHandle) -> Result<(), CapError> {
        let (table, _) = self.registered(env)?;
        let mut tree = self.tree.lock();
        Self::read_locked(table, cap)?;
        Self::remove_locked(&mut tree, table, cap.index);
        Ok(())
    }

    /// Tears environment `env` down: deletes every capability in its table
    /// (descendants held by other environments survive, re-parented as in
    /// [`delete`](Self::delete)) and unregisters it. Its old handles and
    /// tokens stay dead even if the id is registered again, because slot
    /// generations never go back. Returns how many capabilities it held.
    ///
    /// O(table capacity + children of its capabilities), under the tree
    /// lock.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`] if `env` is not registered.
    pub fn unregister_env(&self, _root: &RootAuthority, env: EnvId) -> Result<usize, CapError> {
        let (table, _) = self.registered(env)?;
        let mut tree = self.tree.lock();
        let mut count = 0;
        for index in 0..self.config.slots_per_env {
            let live = table
                .slot(index)
                .is_ok_and(|slot| is_live(slot.generation(Ordering::Relaxed)));
            if live {
                Self::remove_locked(&mut tree, table, index);
                count += 1;
            }
        }
        table.clear_clearance();
        Ok(count)
    }

    /// Kills live slot `index` of `table`, splices it out of the forest and
    /// frees it. Caller holds the tree lock and checked the slot is live.
    ///
    /// One slot's generation change is atomic for readers on its own, and
    /// no other slot changes, so this needs no seqlock window.
    fn remove_locked(tree: &mut Forest, table: &CapTable, index: u32) {
        let env = table.env().0;
        let id = tree.id(env, index);
        tree.splice_out(id);
        fence(Ordering::Release);
        if table.slot(index).is_ok_and(Slot::kill) {
            tree.release(env, index);
        }
    }

    /// **lookup** — the syscall fast path: the capability behind `handle`
    /// in `env`'s table, without any MAC work.
    ///
    /// Lock-free: a handful of atomic loads, retried only while a
    /// revocation is in flight.
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], [`CapError::BadIndex`],
    /// [`CapError::Revoked`] (revoked, reused slot, or a forged generation).
    pub fn lookup(&self, env: EnvId, handle: CapHandle) -> Result<Capability, CapError> {
        let (table, _) = self.registered(env)?;
        let slot = table.slot(handle.index)?;
        self.read_live(slot, handle.generation, Slot::load_record)?
            .decode()
    }

    /// **mint**: an authenticated token for `handle` in `env`'s table, to
    /// hand to the environment (or for a libOS to store).
    ///
    /// # Errors
    /// As [`lookup`](Self::lookup).
    pub fn mint(&self, env: EnvId, handle: CapHandle) -> Result<Token, CapError> {
        let cap = self.lookup(env, handle)?;
        Ok(Token::seal(&self.key, &TokenClaims { env, handle, cap }))
    }

    /// **verify**: authenticates `token` presented by environment `env` and
    /// checks it is still live.
    ///
    /// Order: length, version and field syntax (cheap rejection of garbage,
    /// no secret involved), then the constant-time HMAC check, then the
    /// owner, then the generation (O(1)).
    ///
    /// # Errors
    /// Any decoding error, [`CapError::BadTag`],
    /// [`CapError::WrongEnvironment`], [`CapError::UnknownEnvironment`],
    /// [`CapError::BadIndex`], [`CapError::Revoked`].
    pub fn verify(&self, env: EnvId, token: &[u8]) -> Result<Verified, CapError> {
        let claims = UnverifiedToken::decode(token)?.authenticate(&self.key)?;
        if claims.env != env {
            return Err(CapError::WrongEnvironment {
                owner: claims.env,
                presenter: env,
            });
        }
        let (table, _) = self.registered(env)?;
        let slot = table.slot(claims.handle.index)?;
        self.read_live(slot, claims.handle.generation, |_| ())?;
        Ok(Verified {
            handle: claims.handle,
            cap: claims.cap,
        })
    }

    /// The IPC flow rule: may `sender` send to `receiver`?
    ///
    /// # Errors
    /// [`CapError::UnknownEnvironment`], or [`CapError::FlowViolation`] if
    /// `clearance(sender) > clearance(receiver)` (write-down).
    pub fn check_ipc_flow(&self, sender: EnvId, receiver: EnvId) -> Result<(), CapError> {
        let (_, from) = self.registered(sender)?;
        let (_, to) = self.registered(receiver)?;
        if from.can_flow_to(to) {
            Ok(())
        } else {
            Err(CapError::FlowViolation)
        }
    }

    /// Reads slot `handle` under the tree lock (no writer can run).
    fn read_locked(table: &CapTable, handle: CapHandle) -> Result<Capability, CapError> {
        let slot = table.slot(handle.index)?;
        let generation = slot.generation(Ordering::Relaxed);
        if !is_live(handle.generation) || generation != handle.generation {
            return Err(CapError::Revoked);
        }
        slot.load_record().decode()
    }

    /// Allocates a slot in `table`, publishes `cap` there and links it under
    /// `parent`. Caller holds the tree lock and has checked `cap`.
    fn install(
        tree: &mut Forest,
        table: &CapTable,
        parent: Option<u32>,
        cap: &Capability,
    ) -> Result<CapHandle, CapError> {
        let env = table.env();
        loop {
            let index = tree.alloc(env.0).ok_or(CapError::TableFull(env))?;
            match table.slot(index)?.publish(cap) {
                Some(generation) => {
                    let id = tree.id(env.0, index);
                    tree.link(parent, id);
                    return Ok(CapHandle { index, generation });
                }
                // Retired slot (generation space exhausted): drop it from the
                // free list for good and try the next one.
                None => continue,
            }
        }
    }

    /// The seqlock reader: runs `read` on `slot` and returns its result if
    /// the slot was live at generation `expected` throughout, with no
    /// revocation in between.
    fn read_live<T>(
        &self,
        slot: &Slot,
        expected: u64,
        read: impl Fn(&Slot) -> T,
    ) -> Result<T, CapError> {
        let backoff = Backoff::new();
        loop {
            let s1 = self.revoke_seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                backoff.snooze();
                continue;
            }
            let g1 = slot.generation(Ordering::Acquire);
            let value = read(slot);
            fence(Ordering::Acquire);
            let g2 = slot.generation(Ordering::Relaxed);
            let s2 = self.revoke_seq.load(Ordering::Relaxed);
            if s1 != s2 {
                backoff.snooze();
                continue;
            }
            return if is_live(expected) && g1 == expected && g2 == expected {
                Ok(value)
            } else {
                Err(CapError::Revoked)
            };
        }
    }
}

impl fmt::Debug for CapSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapSpace")
            .field("config", &self.config)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
