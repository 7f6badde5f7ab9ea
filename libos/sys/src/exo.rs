//! The exo ABI as a trait, so the libOS can run on bare metal or hosted.

use exo_abi::{CapInfo, Error};

use crate::Message;

/// Every exo system call, as safe Rust. Buffers are slices (the backend
/// turns them into user pointers the kernel validates); handles are the
/// ABI's register-encoded capability handles. `docs/EXO_ABI.md` specifies
/// each call's arguments, required capabilities and errors.
///
/// Upcall registration is not here: a handler is machine code in the
/// environment's address space, so it belongs to the bare-metal runtime;
/// a hosted environment receives the same events as ordinary errors.
pub trait Exo {
    /// `DEBUG_WRITE`: bytes to the kernel console; returns how many.
    fn debug_write(&self, bytes: &[u8]) -> Result<u64, Error>;
    /// `ENV_EXIT`. On bare metal it never returns; a hosted environment is
    /// gone when it returns, and every later call fails.
    fn exit(&self, status: u64);
    /// `YIELD`.
    fn yield_now(&self);
    /// `ENV_SELF`.
    fn env_self(&self) -> u64;
    /// `CLOCK_GET`: nanoseconds since boot.
    fn clock_ns(&self) -> u64;
    /// `LOG_READ`: the kernel log from `offset`; bytes copied.
    fn log_read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error>;
    /// `RANDOM_GET`, repeated until `buf` is full.
    fn random(&self, buf: &mut [u8]) -> Result<(), Error>;
    /// `FRAME_ALLOC`.
    fn frame_alloc(&self, count: u64) -> Result<u64, Error>;
    /// `FRAME_FREE`.
    fn frame_free(&self, handle: u64) -> Result<(), Error>;
    /// `MAP`.
    fn map(&self, handle: u64, index: u64, va: u64, access: u64) -> Result<(), Error>;
    /// `UNMAP`.
    fn unmap(&self, va: u64) -> Result<(), Error>;
    /// `PROTECT`.
    fn protect(&self, va: u64, access: u64) -> Result<(), Error>;
    /// `DMA_ALLOC`: handle and physical address.
    fn dma_alloc(&self, count: u64, limit: u64) -> Result<(u64, u64), Error>;
    /// `CAP_INFO`.
    fn cap_info(&self, handle: u64) -> Result<CapInfo, Error>;
    /// `CAP_DERIVE`.
    fn cap_derive(&self, handle: u64, rights: u64, first: u64, count: u64) -> Result<u64, Error>;
    /// `CAP_TRANSFER`.
    fn cap_transfer(&self, handle: u64, env: u64, rights: u64) -> Result<u64, Error>;
    /// `CAP_REVOKE`.
    fn cap_revoke(&self, handle: u64) -> Result<u64, Error>;
    /// `CAP_DELETE`.
    fn cap_delete(&self, handle: u64) -> Result<(), Error>;
    /// `CAP_NEXT`.
    fn cap_next(&self, index: u64) -> Result<u64, Error>;
    /// `IPC_SEND`.
    fn ipc_send(&self, to: u64, message: &Message) -> Result<(), Error>;
    /// `IPC_RECV`.
    fn ipc_recv(&self) -> Result<Message, Error>;
    /// `IPC_CALL`.
    fn ipc_call(&self, to: u64, message: &Message) -> Result<Message, Error>;
    /// `IPC_REPLY`.
    fn ipc_reply(&self, to: u64, message: &Message) -> Result<(), Error>;
    /// `IPC_REPLY_RECV`.
    fn ipc_reply_recv(&self, to: u64, message: &Message) -> Result<Message, Error>;
    /// `IRQ_BIND`.
    fn irq_bind(&self, handle: u64, line: u64, flags: u64) -> Result<(), Error>;
    /// `IRQ_UNBIND`.
    fn irq_unbind(&self, line: u64) -> Result<(), Error>;
    /// `IRQ_WAIT`.
    fn irq_wait(&self) -> Result<u64, Error>;
    /// `IRQ_ACK`.
    fn irq_ack(&self, line: u64) -> Result<(), Error>;
    /// `ENV_CREATE`: id and environment handle.
    fn env_create(&self, frames: u64, len: u64) -> Result<(u64, u64), Error>;
    /// `ENV_START`.
    fn env_start(&self, handle: u64) -> Result<(), Error>;
    /// `ENV_DESTROY`.
    fn env_destroy(&self, handle: u64) -> Result<(), Error>;
    /// `ENV_WAIT`: how the environment ended (`exo_abi::exit_status`).
    fn env_wait(&self, handle: u64) -> Result<u64, Error>;
    /// `YIELD_TO`.
    fn yield_to(&self, env: u64) -> Result<(), Error>;
    /// `SLICE_ASSIGN`.
    fn slice_assign(&self, cpu: u64, env: u64) -> Result<u64, Error>;

    /// Not one call but a composite the libOS needs and cannot express in
    /// safe code: copies `bytes` into the frames `frames` names, from its
    /// first byte (mapping them at a scratch address and unmapping them
    /// again on bare metal). Used to hand an image to `ENV_CREATE`.
    fn fill_frames(&self, frames: u64, bytes: &[u8]) -> Result<(), Error>;
}

/// The bare-metal backend: the running environment itself.
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
#[derive(Clone, Copy, Debug, Default)]
pub struct BareMetal;

#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "none"
))]
mod bare {
    use super::*;
    use crate::raw::{self, syscall, syscall6};
    use exo_abi::call;

    fn unit(r: Result<u64, Error>) -> Result<(), Error> {
        r.map(|_| ())
    }

    impl Exo for BareMetal {
        fn debug_write(&self, bytes: &[u8]) -> Result<u64, Error> {
            raw::debug_write(bytes)
        }
        fn exit(&self, status: u64) {
            raw::exit(status)
        }
        fn yield_now(&self) {
            raw::yield_now();
        }
        fn env_self(&self) -> u64 {
            raw::env_self()
        }
        fn clock_ns(&self) -> u64 {
            syscall(call::CLOCK_GET, &[]).unwrap_or(0)
        }
        fn log_read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
            let len = buf.len().min(1024) as u64;
            syscall(call::LOG_READ, &[buf.as_mut_ptr() as u64, len, offset]).map(|n| n as usize)
        }
        fn random(&self, buf: &mut [u8]) -> Result<(), Error> {
            for chunk in buf.chunks_mut(256) {
                syscall(
                    call::RANDOM_GET,
                    &[chunk.as_mut_ptr() as u64, chunk.len() as u64],
                )?;
            }
            Ok(())
        }
        fn frame_alloc(&self, count: u64) -> Result<u64, Error> {
            raw::frame_alloc(count)
        }
        fn frame_free(&self, handle: u64) -> Result<(), Error> {
            unit(raw::frame_free(handle))
        }
        fn map(&self, handle: u64, index: u64, va: u64, access: u64) -> Result<(), Error> {
            unit(raw::map(handle, index, va, access))
        }
        fn unmap(&self, va: u64) -> Result<(), Error> {
            unit(raw::unmap(va))
        }
        fn protect(&self, va: u64, access: u64) -> Result<(), Error> {
            unit(raw::protect(va, access))
        }
        fn dma_alloc(&self, count: u64, limit: u64) -> Result<(u64, u64), Error> {
            raw::dma_alloc(count, limit)
        }
        fn cap_info(&self, handle: u64) -> Result<CapInfo, Error> {
            raw::cap_info(handle)
        }
        fn cap_derive(
            &self,
            handle: u64,
            rights: u64,
            first: u64,
            count: u64,
        ) -> Result<u64, Error> {
            raw::cap_derive(handle, rights, first, count)
        }
        fn cap_transfer(&self, handle: u64, env: u64, rights: u64) -> Result<u64, Error> {
            raw::cap_transfer(handle, env, rights)
        }
        fn cap_revoke(&self, handle: u64) -> Result<u64, Error> {
            raw::cap_revoke(handle)
        }
        fn cap_delete(&self, handle: u64) -> Result<(), Error> {
            unit(syscall(call::CAP_DELETE, &[handle]))
        }
        fn cap_next(&self, index: u64) -> Result<u64, Error> {
            raw::cap_next(index)
        }
        fn ipc_send(&self, to: u64, message: &Message) -> Result<(), Error> {
            raw::ipc_send(to, message)
        }
        fn ipc_recv(&self) -> Result<Message, Error> {
            raw::ipc_recv()
        }
        fn ipc_call(&self, to: u64, message: &Message) -> Result<Message, Error> {
            raw::ipc_call(to, message)
        }
        fn ipc_reply(&self, to: u64, message: &Message) -> Result<(), Error> {
            raw::ipc_reply(to, message)
        }
        fn ipc_reply_recv(&self, to: u64, message: &Message) -> Result<Message, Error> {
            raw::ipc_reply_recv(to, message)
        }
        fn irq_bind(&self, handle: u64, line: u64, flags: u64) -> Result<(), Error> {
            unit(raw::irq_bind(handle, line, flags))
        }
        fn irq_unbind(&self, line: u64) -> Result<(), Error> {
            unit(raw::irq_unbind(line))
        }
        fn irq_wait(&self) -> Result<u64, Error> {
            raw::irq_wait()
        }
        fn irq_ack(&self, line: u64) -> Result<(), Error> {
            unit(raw::irq_ack(line))
        }
        fn env_create(&self, frames: u64, len: u64) -> Result<(u64, u64), Error> {
            raw::env_create(frames, len)
        }
        fn env_start(&self, handle: u64) -> Result<(), Error> {
            unit(raw::env_start(handle))
        }
        fn env_destroy(&self, handle: u64) -> Result<(), Error> {
            unit(raw::env_destroy(handle))
        }
        fn env_wait(&self, handle: u64) -> Result<u64, Error> {
            raw::env_wait(handle)
        }
        fn yield_to(&self, env: u64) -> Result<(), Error> {
            unit(raw::yield_to(env))
        }
        fn fill_frames(&self, frames: u64, bytes: &[u8]) -> Result<(), Error> {
            /// Where frames are mapped while being filled.
            const SCRATCH: u64 = crate::user_address(0x50_0000_0000);
            let info = raw::cap_info(frames)?;
            let pages = (bytes.len() as u64).div_ceil(4096);
            if pages > info.count {
                return Err(Error::InvalidArgument);
            }
            for (i, chunk) in bytes.chunks(4096).enumerate() {
                let va = SCRATCH + i as u64 * 4096;
                raw::map(frames, i as u64, va, exo_abi::access::WRITE)?;
                // SAFETY: `va` was just mapped writable to a frame we hold,
                // and the chunk is at most one page.
                unsafe {
                    core::ptr::copy_nonoverlapping(chunk.as_ptr(), va as *mut u8, chunk.len())
                };
                raw::unmap(va)?;
            }
            Ok(())
        }
        fn slice_assign(&self, cpu: u64, env: u64) -> Result<u64, Error> {
            let r = syscall6(call::SLICE_ASSIGN, [cpu, env, 0, 0, 0, 0]);
            Error::from_raw(r[0])
        }
    }
}
