//! Interrupt lines as environment resources.
//!
//! An environment holding an IRQ capability with `BIND` binds a line; the
//! kernel routes it and, when it fires, masks it, records it as pending for
//! the owner and wakes the owner if it waits in `IRQ_WAIT`. The owner
//! services its device and `IRQ_ACK`s, which unmasks the line — so a
//! level-triggered device cannot storm the CPU while its driver is not
//! running. The kernel never touches the device itself.

use exo_abi::{Error, irq_flags};
use hal::UserContext;

use super::{Kernel, Next, Platform, State, cap_error};
use crate::cap::{EnvId, Resource, Rights};

/// Lines the kernel tracks (one pending bit each).
pub const MAX_LINES: usize = 64;

impl<P: Platform, C: UserContext> Kernel<P, C> {
    fn line(&self, line: u64) -> Result<usize, Error> {
        let n = (self.platform.irq_lines() as usize).min(MAX_LINES);
        usize::try_from(line)
            .ok()
            .filter(|&l| l < n)
            .ok_or(Error::InvalidArgument)
    }

    /// `IRQ_BIND(handle, line, flags)`.
    pub(super) fn irq_bind(
        &mut self,
        me: EnvId,
        raw: u64,
        line: u64,
        flags: u64,
    ) -> Result<u64, Error> {
        if flags & !irq_flags::ALL != 0 {
            return Err(Error::InvalidArgument);
        }
        let handle = self.handle(me, raw)?;
        let cap = self.caps.lookup(me, handle).map_err(cap_error)?;
        let Resource::Irq { first, count } = cap.resource else {
            return Err(Error::WrongKind);
        };
        cap.require(Rights::BIND).map_err(cap_error)?;
        if line < first || line - first >= count {
            return Err(Error::PermissionDenied);
        }
        let l = self.line(line)?;
        if self.irq_owner[l].is_some() {
            return Err(Error::AlreadyMapped);
        }
        let level = flags & irq_flags::LEVEL != 0;
        let low = flags & irq_flags::ACTIVE_LOW != 0;
        if !self.platform.irq_route(l as u32, level, low) {
            return Err(Error::InvalidArgument);
        }
        self.irq_owner[l] = Some(me);
        if let Some(e) = self.env_mut(me) {
            if flags & irq_flags::UPCALL != 0 {
                e.irq_upcalls |= 1 << l;
            } else {
                e.irq_upcalls &= !(1 << l);
            }
        }
        Ok(0)
    }

    /// `IRQ_UNBIND(line)`.
    pub(super) fn irq_unbind(&mut self, me: EnvId, line: u64) -> Result<u64, Error> {
        let l = self.line(line)?;
        if self.irq_owner[l] != Some(me) {
            return Err(Error::PermissionDenied);
        }
        self.irq_owner[l] = None;
        self.platform.irq_mask(l as u32, true);
        if let Some(e) = self.env_mut(me) {
            e.pending_irqs &= !(1 << l);
            e.irq_upcalls &= !(1 << l);
        }
        Ok(0)
    }

    /// `IRQ_ACK(line)`: the owner is done with the line; unmask it.
    pub(super) fn irq_ack(&mut self, me: EnvId, line: u64) -> Result<u64, Error> {
        let l = self.line(line)?;
        if self.irq_owner[l] != Some(me) {
            return Err(Error::PermissionDenied);
        }
        self.platform.irq_mask(l as u32, false);
        Ok(0)
    }

    /// `IRQ_WAIT()`: the pending lines (clearing them), blocking until
    /// there is one. Refused when the caller owns no line.
    pub(super) fn irq_wait(&mut self, me: EnvId, context: &mut C) -> Next {
        if !self.irq_owner.contains(&Some(me)) {
            context.set_results(&[Error::InvalidArgument.to_raw()]);
            return Next::Resume;
        }
        let Some(e) = self.env_mut(me) else {
            return Next::Resume;
        };
        let waitable = !e.irq_upcalls;
        if e.pending_irqs & waitable != 0 {
            let pending = e.pending_irqs & waitable;
            e.pending_irqs &= !waitable;
            context.set_results(&[pending]);
            return Next::Resume;
        }
        e.state = State::WaitingIrq;
        self.save(context);
        self.reschedule(context)
    }

    /// A routed line fired (the arch masked it already) while `context`
    /// ran (`from_user`: an environment's). The owner is woken if it waits
    /// in `IRQ_WAIT`; a line bound for upcalls goes to the owner's handler
    /// at once if the owner was interrupted, else the next time it runs.
    /// Whatever was interrupted keeps running — the owner gets the CPU at
    /// its next slice, or as soon as an idle CPU asks [`Kernel::start`].
    pub fn irq(&mut self, line: u32, context: &mut C, from_user: bool) -> Next {
        let l = line as usize;
        let Some(owner) = self.irq_owner.get(l).copied().flatten() else {
            // Nobody owns it (a race with unbind): leave it masked.
            return Next::Resume;
        };
        let Some(e) = self.env_mut(owner) else {
            return Next::Resume;
        };
        e.pending_irqs |= 1 << l;
        let waitable = e.pending_irqs & !e.irq_upcalls;
        if e.state == State::WaitingIrq && waitable != 0 {
            e.pending_irqs &= !waitable;
            e.context.set_results(&[waitable]);
            e.state = State::Runnable;
        }
        if from_user && self.current == Some(owner) {
            self.deliver_irq_upcall(owner, context);
        }
        Next::Resume
    }

    /// Starts `env`'s handler for its pending upcall-mode lines, if it has
    /// any and can take an upcall now (`context` is its current context).
    pub(super) fn deliver_irq_upcall(&mut self, env: EnvId, context: &mut C) {
        let Some(e) = self.env(env) else {
            return;
        };
        let lines = e.pending_irqs & e.irq_upcalls;
        if lines == 0 || e.in_upcall || e.upcall.is_none() || e.state != State::Runnable {
            return;
        }
        if self
            .deliver_upcall(env, context, exo_abi::upcall::IRQ, [lines, 0, 0, 0])
            .is_ok()
            && let Some(e) = self.env_mut(env)
        {
            e.pending_irqs &= !lines;
        }
    }

    /// Gives `env` a new root capability from boot-time policy (device
    /// MMIO, IRQ lines named in a boot manifest); returns its handle word.
    ///
    /// # Errors
    /// [`Error::NoSuchEnvironment`], or a capability error.
    pub fn grant(&mut self, env: EnvId, cap: crate::cap::Capability) -> Result<u64, Error> {
        self.env(env).ok_or(Error::NoSuchEnvironment)?;
        let handle = self.caps.create(&self.root, env, cap).map_err(cap_error)?;
        Ok(exo_abi::encode_handle(handle.index, handle.generation))
    }
}
