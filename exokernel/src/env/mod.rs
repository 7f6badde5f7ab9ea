//! Environments: the exokernel's protection domains, and the system-call,
//! timer and fault paths that multiplex the machine among them.
//!
//! An environment is an address space, a capability table (in the shared
//! [`CapSpace`]), a saved user context and a scheduling state. Everything
//! here is arch-neutral: the machine is reached through [`Platform`] (page
//! tables, physical memory, console) and `hal`'s [`UserContext`] (saved
//! registers), so the whole policy runs under `cargo test` against a model
//! platform (`tests/env_*.rs`) as well as on bare metal.
//!
//! The entry points ([`Kernel::syscall`], [`Kernel::tick`],
//! [`Kernel::fault`], [`Kernel::start`]) take the interrupted environment's
//! context by `&mut` and leave in it the context to resume — the same
//! environment's with results written, or another environment's after a
//! switch ([`Next`] says which; the new address space is already active).

mod boot;
mod envcalls;
mod ipc;
mod irq;
mod memory;
mod sched;
mod spawn;
mod syscall;
mod upcall;
mod usercopy;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use arrayvec::ArrayString;
use exo_abi::Error;
use hal::UserContext;
use hal::mmu::{AddressSpaceOps, FrameSource, MapError};

use crate::cap::{CapError, CapHandle, CapSpace, EnvId, Level, RootAuthority};

pub use boot::{BootImage, Cpu, Runner};
pub use ipc::Message;
pub use sched::SliceVector;
pub use spawn::{STACK_PAGES, SpawnError};
pub use usercopy::{copy_in, copy_out};

/// What the exokernel needs from the machine.
pub trait Platform {
    /// One environment's address space.
    type Space: AddressSpaceOps;
    /// One environment's floating-point/vector registers (`()` where the
    /// platform has none to switch).
    type Fpu: Default + Copy + fmt::Debug;
    /// `e_machine` of the ELF images this machine runs.
    const ELF_MACHINE: u16;

    /// A new address space with the kernel mapped and no user memory.
    ///
    /// # Errors
    /// [`MapError::OutOfFrames`].
    fn new_space(&mut self) -> Result<Self::Space, MapError>;
    /// Frees an address space's page tables. It is not active.
    fn destroy_space(&mut self, space: Self::Space);
    /// Makes `space` the current address space.
    fn activate(&mut self, space: &Self::Space);
    /// Makes the kernel's own address space current (before destroying the
    /// active environment's).
    fn activate_kernel(&mut self);
    /// Where page-table frames come from.
    fn page_tables(&mut self) -> &mut dyn FrameSource;
    /// `count` physically contiguous zeroed frames ending below `limit`;
    /// the physical address of the first, or `None` when there are none.
    fn alloc_frames(&mut self, count: u64, limit: u64) -> Option<u64>;
    /// Returns frames from [`alloc_frames`](Self::alloc_frames).
    fn free_frames(&mut self, phys: u64, count: u64);
    /// Reads physical memory (within one frame).
    fn read_phys(&self, phys: u64, buf: &mut [u8]);
    /// Writes physical memory (within one frame).
    fn write_phys(&mut self, phys: u64, data: &[u8]);
    /// Writes environment console output.
    fn console(&mut self, bytes: &[u8]);
    /// Nanoseconds since boot (monotonic).
    fn now_ns(&self) -> u64;
    /// Copies the kernel's log (the early boot ring) from byte `offset`
    /// into `buf`; returns how many bytes were copied.
    fn read_log(&self, offset: u64, buf: &mut [u8]) -> usize;
    /// Saves the CPU's floating-point/vector registers into `fpu`.
    fn save_fpu(&mut self, fpu: &mut Self::Fpu);
    /// Loads the CPU's floating-point/vector registers from `fpu`.
    fn restore_fpu(&mut self, fpu: &Self::Fpu);
    /// Loads the running environment's thread pointer (x86_64 `FS_BASE`,
    /// aarch64 `TPIDR_EL0`).
    fn set_tls(&mut self, base: u64);
    /// Interrupt lines that can be routed to environments.
    fn irq_lines(&self) -> u32;
    /// Routes `line` (level- or edge-triggered, active low or high) to the
    /// kernel, unmasked; `false` if it cannot be routed.
    fn irq_route(&mut self, line: u32, level: bool, active_low: bool) -> bool;
    /// Masks or unmasks a routed line.
    fn irq_mask(&mut self, line: u32, masked: bool);
}

/// What the caller must do after an entry point returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Return to the same environment (its context may hold results).
    Resume,
    /// The context now belongs to another environment, whose address space
    /// is active: return to it.
    Switched,
    /// No environment can run now, but some are blocked: wait for an
    /// interrupt (the context is not an environment's).
    Idle,
    /// Every environment has ended.
    Finished,
}

/// A CPU exception raised by user code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Arch exception name ("page fault", "#GP", …).
    pub name: &'static str,
    /// Arch vector number.
    pub vector: u64,
    /// The faulting instruction.
    pub ip: u64,
    /// The faulting data address, when the exception has one.
    pub address: Option<u64>,
    /// The CPU's error code.
    pub error: u64,
}

/// How an environment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// It called `ENV_EXIT`.
    Exited(u64),
    /// It took an exception and had no handler.
    Faulted(Fault),
    /// It was blocked in IPC when no environment could run and nothing
    /// (no bound interrupt) could ever wake one: a deadlock.
    Stalled,
}

/// The record of an ended environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    /// Its id.
    pub env: EnvId,
    /// Its name.
    pub name: ArrayString<32>,
    /// Why it ended.
    pub reason: ExitReason,
    /// System calls it made.
    pub syscalls: u64,
}

impl fmt::Display for ExitRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "env {} ({})", self.env.0, self.name)?;
        match self.reason {
            ExitReason::Exited(status) => write!(f, " exited with status {status}")?,
            ExitReason::Stalled => write!(f, " stalled: blocked with nothing left to wake it")?,
            ExitReason::Faulted(fault) => {
                write!(f, " killed by {} at ip {:#x}", fault.name, fault.ip)?;
                if let Some(address) = fault.address {
                    write!(f, " (address {address:#x})")?;
                }
            }
        }
        write!(f, " after {} system calls", self.syscalls)
    }
}

/// A broken secure-binding invariant found by [`Kernel::audit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("env {}: mapping at {va:#x}: {what}", env.0)]
pub struct AuditError {
    /// The environment.
    pub env: EnvId,
    /// The user page.
    pub va: u64,
    /// What is wrong.
    pub what: &'static str,
}

/// Limits fixed when the kernel starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelConfig {
    /// Frames one environment may hold through `FRAME_ALLOC` at once.
    pub frame_quota: u64,
    /// Timer ticks per time slice.
    pub ticks_per_slice: u32,
    /// Clearance every spawned environment gets.
    pub clearance: Level,
}

/// Scheduling state of an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ready to run.
    Runnable,
    /// Blocked in `IPC_SEND` (`call: false`) or `IPC_CALL` until `to`
    /// receives. `since` orders senders fairly.
    Sending {
        to: EnvId,
        message: Message,
        call: bool,
        since: u64,
    },
    /// Blocked in `IPC_RECV`.
    Receiving,
    /// Its `IPC_CALL` was received by `from`; waiting for the reply.
    AwaitingReply { from: EnvId },
    /// Blocked in `IRQ_WAIT` until a bound line fires.
    WaitingIrq,
    /// Created by `ENV_CREATE`, not yet started.
    Suspended,
    /// Blocked in `ENV_WAIT` until `target` ends.
    WaitingEnv { target: EnvId },
}

/// A user page mapping and the capability that authorised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    cap: CapHandle,
    phys: u64,
}

/// Frames handed to an environment (by `FRAME_ALLOC` or for its image),
/// with the root capability that names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Allocation {
    phys: u64,
    count: u64,
    root: CapHandle,
    /// Counts against the `FRAME_ALLOC` quota.
    quota: bool,
}

/// One environment.
#[derive(Debug)]
struct Env<S, C, F> {
    id: EnvId,
    name: ArrayString<32>,
    space: S,
    context: C,
    state: State,
    mappings: BTreeMap<u64, Mapping>,
    allocations: Vec<Allocation>,
    quota_used: u64,
    syscalls: u64,
    /// The registered upcall handler.
    upcall: Option<upcall::Handler>,
    /// Running its upcall handler (upcalls do not nest).
    in_upcall: bool,
    /// Given a slice-end upcall and one tick of grace to yield.
    grace: bool,
    /// Bound interrupt lines that fired and were not yet collected.
    pending_irqs: u64,
    /// Lines delivered as upcalls rather than `IRQ_WAIT` notifications.
    irq_upcalls: u64,
    /// Its thread pointer (`TLS_SET`), loaded whenever it runs.
    tls: u64,
    /// Its floating-point/vector registers while it is not running.
    fpu: F,
    /// The root of the environment capabilities naming this environment
    /// (held by its creator), revoked once it has ended and been reaped so
    /// no stale capability can reach a later environment that reuses the
    /// id.
    handle_root: Option<(EnvId, CapHandle)>,
}

/// An environment that ended while nobody waited on it, like a Unix
/// zombie: everything it owned is already freed, but its id stays
/// reserved and its handle alive until a holder of the handle collects how
/// it ended with `ENV_WAIT` (or discards it with `ENV_DESTROY`). Without
/// this, a child that exits before its parent reaches `ENV_WAIT` would
/// leave the parent a dead handle and no status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ended {
    env: EnvId,
    /// Its `ENV_WAIT` word ([`exit_code`]).
    word: u64,
    /// The creator's root environment handle, revoked when reaped.
    holder: EnvId,
    handle: CapHandle,
}

/// An environment as a kernel over platform `P` keeps it.
type EnvOf<P, C> = Env<<P as Platform>::Space, C, <P as Platform>::Fpu>;

/// The exokernel: every environment, the capability system, the scheduler.
pub struct Kernel<P: Platform, C: UserContext> {
    platform: P,
    caps: CapSpace,
    root: RootAuthority,
    drbg: crate::entropy::Drbg,
    config: KernelConfig,
    envs: Vec<Option<EnvOf<P, C>>>,
    current: Option<EnvId>,
    /// Whose address space is loaded (may outlive `current` while idle).
    active: Option<EnvId>,
    slices: SliceVector,
    /// Which environment each interrupt line is bound to.
    irq_owner: [Option<EnvId>; irq::MAX_LINES],
    sequence: u64,
    exits: Vec<ExitRecord>,
    /// Ended environments whose status nobody has collected yet.
    ended: Vec<Ended>,
}

impl<P: Platform, C: UserContext> fmt::Debug for Kernel<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("config", &self.config)
            .field("current", &self.current)
            .field("live", &self.live_envs())
            .finish_non_exhaustive()
    }
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// A kernel with no environments, owning the capability space and the
    /// random-number generator.
    pub fn new(
        platform: P,
        caps: CapSpace,
        root: RootAuthority,
        drbg: crate::entropy::Drbg,
        config: KernelConfig,
    ) -> Self {
        let max = caps.config().max_envs as usize;
        let mut envs = Vec::with_capacity(max);
        envs.resize_with(max, || None);
        Self {
            platform,
            caps,
            root,
            drbg,
            config,
            envs,
            current: None,
            active: None,
            slices: SliceVector::new(config.ticks_per_slice),
            irq_owner: [None; irq::MAX_LINES],
            sequence: 0,
            exits: Vec::new(),
            ended: Vec::new(),
        }
    }

    /// The capability system.
    pub fn caps(&self) -> &CapSpace {
        &self.caps
    }

    /// The root authority (boot code and self-tests).
    pub fn root(&self) -> &RootAuthority {
        &self.root
    }

    /// The platform.
    pub fn platform(&mut self) -> &mut P {
        &mut self.platform
    }

    /// Number of live environments.
    pub fn live_envs(&self) -> usize {
        self.envs.iter().flatten().count()
    }

    /// The environment running now, if any.
    pub fn current(&self) -> Option<EnvId> {
        self.current
    }

    /// Environments that have ended, in order.
    pub fn exits(&self) -> &[ExitRecord] {
        &self.exits
    }

    /// The name of live environment `env`.
    pub fn name(&self, env: EnvId) -> Option<&str> {
        self.env(env).map(|e| e.name.as_str())
    }

    /// Physical frame mapped at user page `virt` of `env`, if any.
    pub fn translate(&self, env: EnvId, virt: u64) -> Option<u64> {
        self.env(env)?.space.translate(virt).map(|t| t.phys)
    }

    /// Checks the secure-binding invariant over every environment: each
    /// recorded mapping is present in the page tables with the recorded
    /// frame, and its capability is live in that environment's table,
    /// names frames that include it, and grants the rights its access
    /// needs. Returns the number of mappings checked.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn audit(&self) -> Result<usize, AuditError> {
        let mut checked = 0;
        for e in self.envs.iter().flatten() {
            for (&va, m) in &e.mappings {
                let fail = |what| AuditError {
                    env: e.id,
                    va,
                    what,
                };
                let t = e
                    .space
                    .translate(va)
                    .ok_or(fail("recorded but not mapped"))?;
                if t.phys != m.phys {
                    return Err(fail("page tables disagree with the record"));
                }
                let cap = self
                    .caps
                    .lookup(e.id, m.cap)
                    .map_err(|_| fail("capability is dead"))?;
                let crate::cap::Resource::Frames { first, count } = cap.resource else {
                    return Err(fail("capability does not name frames"));
                };
                let frame = m.phys / hal::mmu::PAGE_SIZE;
                if frame < first || frame - first >= count {
                    return Err(fail("frame outside the capability"));
                }
                let mut needs = crate::cap::Rights::READ | crate::cap::Rights::MAP;
                if t.access.write {
                    needs |= crate::cap::Rights::WRITE;
                }
                if t.access.execute {
                    needs |= crate::cap::Rights::EXECUTE;
                }
                if !needs.is_subset_of(cap.rights) || (t.access.write && t.access.execute) {
                    return Err(fail("access exceeds the capability's rights or breaks W^X"));
                }
                checked += 1;
            }
        }
        Ok(checked)
    }

    fn env(&self, env: EnvId) -> Option<&EnvOf<P, C>> {
        self.envs.get(env.0 as usize)?.as_ref()
    }

    fn env_mut(&mut self, env: EnvId) -> Option<&mut EnvOf<P, C>> {
        self.envs.get_mut(env.0 as usize)?.as_mut()
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Starts running: loads the first runnable environment into `context`.
    pub fn start(&mut self, context: &mut C) -> Next {
        self.current = None;
        self.reschedule(context)
    }

    /// Handles a timer tick that interrupted `context` (`from_user`: it was
    /// an environment's).
    pub fn tick(&mut self, context: &mut C, from_user: bool) -> Next {
        if !from_user || self.current.is_none() {
            return Next::Resume;
        }
        if !self.slices.tick() {
            return Next::Resume;
        }
        // Slice over: first tell the environment (one tick of grace to
        // save its state and yield), then preempt it regardless.
        if let Some(env) = self.current
            && self.env(env).is_some_and(|e| !e.grace)
            && self
                .deliver_upcall(env, context, exo_abi::upcall::SLICE_END, [0; 4])
                .is_ok()
        {
            if let Some(e) = self.env_mut(env) {
                e.grace = true;
            }
            self.slices.grant(1);
            return Next::Resume;
        }
        self.save(context);
        self.reschedule(context)
    }

    /// Handles an exception user code raised: the environment is destroyed
    /// (fault upcalls are registered per environment in a later ABI
    /// revision) and another one runs.
    pub fn fault(&mut self, context: &mut C, fault: Fault) -> Next {
        let Some(env) = self.current else {
            return self.reschedule(context);
        };
        let info = [
            fault.vector,
            fault.ip,
            fault.address.unwrap_or(0),
            fault.error,
        ];
        if self
            .deliver_upcall(env, context, exo_abi::upcall::FAULT, info)
            .is_ok()
        {
            return Next::Resume;
        }
        self.destroy(env, ExitReason::Faulted(fault));
        self.reschedule(context)
    }

    /// Event sources outside the environments that could make a blocked
    /// environment runnable (bound IRQ lines). None exist until IRQ
    /// binding arrives, so "nothing runnable" means deadlock.
    fn wakeup_sources(&self) -> usize {
        self.irq_owner.iter().flatten().count()
    }

    /// Saves `context` as the current environment's.
    fn save(&mut self, context: &C) {
        if let Some(env) = self.current
            && let Some(e) = self.env_mut(env)
        {
            e.context = *context;
        }
    }

    /// Picks the next environment from the slice vector and loads it.
    fn reschedule(&mut self, context: &mut C) -> Next {
        let envs = &self.envs;
        let next = self.slices.next(|id| {
            envs.get(id.0 as usize)
                .and_then(Option::as_ref)
                .is_some_and(|e| e.state == State::Runnable)
        });
        match next {
            Some(env) => self.switch_to(env, context),
            None => {
                self.current = None;
                if self.live_envs() == 0 {
                    Next::Finished
                } else if self.wakeup_sources() == 0 {
                    // Everyone waits on everyone: end them all.
                    let stalled: Vec<EnvId> = self.envs.iter().flatten().map(|e| e.id).collect();
                    for env in stalled {
                        self.destroy(env, ExitReason::Stalled);
                    }
                    Next::Finished
                } else {
                    Next::Idle
                }
            }
        }
    }

    /// Loads `env` (runnable) into `context` without touching the slice
    /// vector (a direct switch donates the rest of the slice).
    fn switch_to(&mut self, env: EnvId, context: &mut C) -> Next {
        let same = self.current == Some(env);
        if self.active != Some(env)
            && let Some(prev) = self.active
            && let Some(p) = self.envs.get_mut(prev.0 as usize).and_then(Option::as_mut)
        {
            self.platform.save_fpu(&mut p.fpu);
        }
        let Some(e) = self.envs.get_mut(env.0 as usize).and_then(Option::as_mut) else {
            return Next::Idle;
        };
        e.grace = false;
        *context = e.context;
        self.current = Some(env);
        let switched = if self.active != Some(env) {
            self.platform.activate(&e.space);
            self.platform.set_tls(e.tls);
            self.platform.restore_fpu(&e.fpu);
            self.active = Some(env);
            true
        } else {
            !same
        };
        // Interrupts that arrived while it was away, as an upcall.
        self.deliver_irq_upcall(env, context);
        if switched {
            Next::Switched
        } else {
            Next::Resume
        }
    }

    /// Ends `env`: wakes environments blocked on it, revokes the frames it
    /// owns (unmapping them wherever they were mapped), frees its address
    /// space and unregisters its capability table.
    fn destroy(&mut self, env: EnvId, reason: ExitReason) {
        let Some(mut e) = self.envs.get_mut(env.0 as usize).and_then(Option::take) else {
            return;
        };
        self.slices.remove(env);
        if self.current == Some(env) {
            self.current = None;
        }
        if self.active == Some(env) {
            self.active = None;
            self.platform.activate_kernel();
        }
        // Anyone waiting on the dead environment wakes: `ENV_WAIT` with how
        // it ended, IPC partners with an error.
        let mut collected = false;
        for other in self.envs.iter_mut().flatten() {
            let waiting = match other.state {
                State::Sending { to, .. } => to == env,
                State::AwaitingReply { from } => from == env,
                State::WaitingEnv { target } => target == env,
                State::Runnable | State::Receiving | State::WaitingIrq | State::Suspended => false,
            };
            if waiting {
                let result = match other.state {
                    State::WaitingEnv { .. } => {
                        collected = true;
                        exit_code(reason)
                    }
                    _ => Error::NoSuchEnvironment.to_raw(),
                };
                other.context.set_results(&[result]);
                other.state = State::Runnable;
            }
        }
        // Capabilities naming it die with it once its status is collected;
        // until then it is kept as an `Ended` record.
        if let Some((holder, handle)) = e.handle_root {
            if collected {
                let _ = self
                    .caps
                    .revoke_as_root(&self.root, holder, handle, |_, _| {});
            } else {
                self.ended.push(Ended {
                    env,
                    word: exit_code(reason),
                    holder,
                    handle,
                });
            }
        }
        // The environments it created lose their handles (they keep
        // running, orphaned), and the ones that ended unreaped are reaped:
        // the handles live in its table, which goes away.
        let orphans: Vec<EnvId> = self
            .envs
            .iter()
            .flatten()
            .filter(|c| c.handle_root.is_some_and(|(holder, _)| holder == env))
            .map(|c| c.id)
            .collect();
        for child in orphans {
            if let Some(c) = self.env_mut(child)
                && let Some((holder, handle)) = c.handle_root.take()
            {
                let _ = self
                    .caps
                    .revoke_as_root(&self.root, holder, handle, |_, _| {});
            }
        }
        let unreaped: Vec<EnvId> = self
            .ended
            .iter()
            .filter(|z| z.holder == env)
            .map(|z| z.env)
            .collect();
        for z in unreaped {
            self.reap(z);
        }
        // Its interrupt lines are masked and released.
        for line in 0..irq::MAX_LINES {
            if self.irq_owner[line] == Some(env) {
                self.irq_owner[line] = None;
                self.platform.irq_mask(line as u32, true);
            }
        }
        // Its frames die with it, in every environment they reached.
        for allocation in core::mem::take(&mut e.allocations) {
            let _ = self.revoke_and_unmap(env, allocation.root, true);
            self.platform.free_frames(allocation.phys, allocation.count);
        }
        let _ = self.caps.unregister_env(&self.root, env);
        self.platform.destroy_space(e.space);
        self.exits.push(ExitRecord {
            env,
            name: e.name,
            reason,
            syscalls: e.syscalls,
        });
    }

    /// Forgets ended environment `env`: its handles are revoked and its id
    /// becomes free for reuse. Returns how it ended, or `None` if it is
    /// not an unreaped ended environment.
    fn reap(&mut self, env: EnvId) -> Option<u64> {
        let at = self.ended.iter().position(|z| z.env == env)?;
        let z = self.ended.swap_remove(at);
        let _ = self
            .caps
            .revoke_as_root(&self.root, z.holder, z.handle, |_, _| {});
        Some(z.word)
    }

    /// Destroys `env` from outside (the kernel's own decision, e.g. a
    /// watchdog). No-op for an unknown id.
    pub fn kill(&mut self, env: EnvId, context: &mut C, reason: ExitReason) -> Next {
        let was_current = self.current == Some(env);
        self.destroy(env, reason);
        if was_current {
            self.reschedule(context)
        } else {
            Next::Resume
        }
    }
}

/// `ENV_WAIT`'s encoding of how an environment ended.
fn exit_code(reason: ExitReason) -> u64 {
    use exo_abi::exit_status;
    match reason {
        ExitReason::Exited(u64::MAX) => exit_status::DESTROYED,
        ExitReason::Exited(code) => exit_status::EXITED | (code & 0xff),
        ExitReason::Faulted(f) => exit_status::FAULTED | (f.vector & 0xff),
        ExitReason::Stalled => exit_status::STALLED,
    }
}

/// The ABI error for a capability error.
#[must_use]
pub fn cap_error(e: CapError) -> Error {
    match e {
        CapError::Revoked | CapError::BadIndex(_) => Error::BadCapability,
        CapError::MissingRight(_)
        | CapError::RightsAmplification
        | CapError::LevelRaise
        | CapError::ResourceNotSubset
        | CapError::BadgeConflict
        | CapError::AboveClearance
        | CapError::BadTag
        | CapError::WrongEnvironment { .. } => Error::PermissionDenied,
        CapError::FlowViolation => Error::FlowViolation,
        CapError::TableFull(_) => Error::TableFull,
        CapError::UnknownEnvironment(_) => Error::NoSuchEnvironment,
        _ => Error::InvalidArgument,
    }
}

/// The ABI error for a mapping error.
#[must_use]
pub fn map_error(e: MapError) -> Error {
    match e {
        MapError::Misaligned => Error::InvalidArgument,
        MapError::NotUser | MapError::BadFrame => Error::BadAddress,
        MapError::AlreadyMapped => Error::AlreadyMapped,
        MapError::NotMapped => Error::NotMapped,
        MapError::OutOfFrames => Error::NoMemory,
    }
}
