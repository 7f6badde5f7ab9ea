//! The system-call dispatcher: decodes the call, validates every argument
//! and capability, and answers with a value or an [`Error`] — never a
//! panic, whatever the registers hold. `docs/EXO_ABI.md` is the
//! specification.

use exo_abi::{CapInfo, Error, call};
use hal::UserContext;

use super::{ExitReason, Kernel, Next, Platform, cap_error, usercopy};
use crate::cap::{EnvId, Resource, Rights, Span};

/// Most bytes one `DEBUG_WRITE` prints (longer writes are cut short and
/// report the shorter length, like a partial `write`).
pub const DEBUG_WRITE_MAX: usize = 1024;

/// Most bytes one `LOG_READ` copies.
pub const LOG_READ_MAX: usize = 1024;

/// Most bytes one `RANDOM_GET` returns (longer requests get this many).
pub const RANDOM_GET_MAX: usize = 256;

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// Handles the system call in `context` (the current environment's).
    pub fn syscall(&mut self, context: &mut C) -> Next {
        let Some(me) = self.current else {
            return Next::Resume;
        };
        if let Some(e) = self.env_mut(me) {
            e.syscalls += 1;
        }
        let number = context.syscall_number();
        let a = context.syscall_args();
        // A personality asked for every call from outside its handler.
        let reflect = self
            .env(me)
            .is_some_and(|e| !e.in_upcall && e.upcall.is_some_and(|h| h.reflect_all));
        if reflect
            && self
                .deliver_upcall(me, context, exo_abi::upcall::SYSCALL, [number, 0, 0, 0])
                .is_ok()
        {
            return Next::Resume;
        }
        let result = match number {
            call::ENV_EXIT => {
                self.destroy(me, ExitReason::Exited(a[0]));
                return self.reschedule(context);
            }
            call::YIELD => {
                context.set_results(&[0]);
                self.save(context);
                return self.reschedule(context);
            }
            call::IPC_SEND => return self.ipc_send(me, context, false),
            call::IPC_CALL => return self.ipc_send(me, context, true),
            call::IPC_RECV => return self.ipc_recv(me, context),
            call::IPC_REPLY => return self.ipc_reply(me, context),
            call::IPC_REPLY_RECV => return self.ipc_reply_recv(me, context),
            call::UPCALL_RETURN => {
                return match self.upcall_return(me, context, a[0]) {
                    Ok(()) => Next::Resume,
                    Err(e) => {
                        context.set_results(&[e.to_raw()]);
                        Next::Resume
                    }
                };
            }
            call::UPCALL_REGISTER => self.upcall_register(me, a[0], a[1], a[2]),
            call::TLS_SET => {
                if let Some(e) = self.env_mut(me) {
                    e.tls = a[0];
                }
                self.platform.set_tls(a[0]);
                Ok(0)
            }
            call::IRQ_WAIT => return self.irq_wait(me, context),
            call::YIELD_TO => return self.yield_to(me, a[0], context),
            call::ENV_DESTROY => return self.env_destroy(me, a[0], context),
            call::ENV_WAIT => return self.env_wait(me, a[0], context),
            call::ENV_CREATE => {
                match self.env_create(me, a[0], a[1]) {
                    Ok(values) => context.set_results(&values),
                    Err(e) => context.set_results(&[e.to_raw()]),
                }
                return Next::Resume;
            }
            call::ENV_START => self.env_start(me, a[0]),
            call::SLICE_ASSIGN => self.slice_assign(me, a[0], a[1]),
            call::DMA_ALLOC => {
                match self.dma_alloc(me, a[0], a[1]) {
                    Ok(values) => context.set_results(&values),
                    Err(e) => context.set_results(&[e.to_raw()]),
                }
                return Next::Resume;
            }
            call::IRQ_BIND => self.irq_bind(me, a[0], a[1], a[2]),
            call::IRQ_UNBIND => self.irq_unbind(me, a[0]),
            call::IRQ_ACK => self.irq_ack(me, a[0]),
            call::CAP_NEXT => u32::try_from(a[0])
                .map_err(|_| Error::BadCapability)
                .and_then(|from| self.caps.next_live(me, from).ok_or(Error::BadCapability))
                .map(|h| exo_abi::encode_handle(h.index, h.generation)),
            call::DEBUG_WRITE => self.debug_write(me, a[0], a[1]),
            call::ENV_SELF => Ok(u64::from(me.0)),
            call::CLOCK_GET => Ok(self.platform.now_ns()),
            call::RANDOM_GET => self.random_get(me, a[0], a[1]),
            call::LOG_READ => self.log_read(me, a[0], a[1], a[2]),
            call::FRAME_ALLOC => self.frame_alloc(me, a[0], a[1]),
            call::FRAME_FREE => self.frame_free(me, a[0]),
            call::MAP => self.map(me, a[0], a[1], a[2], a[3]),
            call::UNMAP => self.unmap(me, a[0]),
            call::PROTECT => self.protect(me, a[0], a[1]),
            call::CAP_INFO => self.cap_info(me, a[0], a[1]),
            call::CAP_DERIVE => self.cap_derive(me, a[0], a[1], a[2], a[3]),
            call::CAP_TRANSFER => self.cap_transfer(me, a[0], a[1], a[2]),
            call::CAP_REVOKE => self
                .handle(me, a[0])
                .and_then(|h| self.revoke_and_unmap(me, h, false)),
            call::CAP_DELETE => self.delete_and_unmap(me, a[0]),
            _ => {
                // Not ours: a personality in the environment may emulate it.
                let info = [number, 0, 0, 0];
                if self
                    .deliver_upcall(me, context, exo_abi::upcall::SYSCALL, info)
                    .is_ok()
                {
                    return Next::Resume;
                }
                Err(Error::NoSuchCall)
            }
        };
        context.set_results(&[match result {
            Ok(value) => value,
            Err(e) => e.to_raw(),
        }]);
        Next::Resume
    }

    fn debug_write(&mut self, me: EnvId, ptr: u64, len: u64) -> Result<u64, Error> {
        let len = usize::try_from(len).map_err(|_| Error::InvalidArgument)?;
        let len = len.min(DEBUG_WRITE_MAX);
        let mut buf = [0u8; DEBUG_WRITE_MAX];
        let e = self.env(me).ok_or(Error::NoSuchEnvironment)?;
        usercopy::copy_in(&self.platform, &e.space, ptr, &mut buf[..len])?;
        self.platform.console(&buf[..len]);
        Ok(len as u64)
    }

    fn random_get(&mut self, me: EnvId, ptr: u64, len: u64) -> Result<u64, Error> {
        let len =
            usize::try_from(len.min(RANDOM_GET_MAX as u64)).map_err(|_| Error::InvalidArgument)?;
        let mut buf = [0u8; RANDOM_GET_MAX];
        self.drbg.fill(&mut buf[..len]);
        let Some(e) = self.envs.get(me.0 as usize).and_then(Option::as_ref) else {
            return Err(Error::NoSuchEnvironment);
        };
        let done = usercopy::copy_out(&mut self.platform, &e.space, ptr, &buf[..len]);
        buf.fill(0);
        done.map(|()| len as u64)
    }

    fn log_read(&mut self, me: EnvId, ptr: u64, len: u64, offset: u64) -> Result<u64, Error> {
        let len =
            usize::try_from(len.min(LOG_READ_MAX as u64)).map_err(|_| Error::InvalidArgument)?;
        let mut buf = [0u8; LOG_READ_MAX];
        let n = self.platform.read_log(offset, &mut buf[..len]);
        let Some(e) = self.envs.get(me.0 as usize).and_then(Option::as_ref) else {
            return Err(Error::NoSuchEnvironment);
        };
        usercopy::copy_out(&mut self.platform, &e.space, ptr, &buf[..n])?;
        Ok(n as u64)
    }

    fn cap_info(&mut self, me: EnvId, raw: u64, out: u64) -> Result<u64, Error> {
        let handle = self.handle(me, raw)?;
        let cap = self.caps.lookup(me, handle).map_err(cap_error)?;
        let span = cap.resource.span();
        let info = CapInfo {
            kind: span.kind as u64,
            rights: u64::from(cap.rights.bits()),
            level: u64::from(cap.level.get()),
            first: span.base,
            count: span.len,
            badge: cap.badge.0,
        };
        let Some(e) = self.envs.get(me.0 as usize).and_then(Option::as_ref) else {
            return Err(Error::NoSuchEnvironment);
        };
        usercopy::copy_out(&mut self.platform, &e.space, out, &info.to_bytes())?;
        Ok(0)
    }

    fn cap_derive(
        &mut self,
        me: EnvId,
        raw: u64,
        rights: u64,
        first: u64,
        count: u64,
    ) -> Result<u64, Error> {
        let handle = self.handle(me, raw)?;
        let parent = self.caps.lookup(me, handle).map_err(cap_error)?;
        let rights = u32::try_from(rights)
            .ok()
            .and_then(Rights::from_bits)
            .ok_or(Error::InvalidArgument)?;
        let span = parent.resource.span();
        let resource = Resource::from_span(Span {
            base: first,
            len: count,
            ..span
        })
        .map_err(|_| Error::InvalidArgument)?;
        let request = parent.with_rights(rights).with_resource(resource);
        let child = self.caps.derive(me, handle, request).map_err(cap_error)?;
        Ok(exo_abi::encode_handle(child.index, child.generation))
    }

    fn cap_transfer(&mut self, me: EnvId, raw: u64, to: u64, rights: u64) -> Result<u64, Error> {
        let handle = self.handle(me, raw)?;
        let to = u32::try_from(to)
            .ok()
            .map(EnvId)
            .filter(|&t| self.env(t).is_some())
            .ok_or(Error::NoSuchEnvironment)?;
        let rights = u32::try_from(rights)
            .ok()
            .and_then(Rights::from_bits)
            .ok_or(Error::InvalidArgument)?;
        let copy = self
            .caps
            .transfer(me, handle, to, rights)
            .map_err(cap_error)?;
        Ok(exo_abi::encode_handle(copy.index, copy.generation))
    }
}
