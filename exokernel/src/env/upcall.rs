//! Upcalls: faults, unknown system calls and slice ends reflected to a
//! handler the environment registered, in its own address space.
//!
//! Delivery writes an upcall frame (kind, four info words, the interrupted
//! context as portable words) to the top of the environment's upcall stack
//! through [`copy_out`](super::usercopy::copy_out) — so a bad stack is the
//! environment's problem, never the kernel's — and starts the handler with
//! the kind and the frame address as arguments. `UPCALL_RETURN` reads a
//! frame back (the libOS may have edited it: a personality sets the result
//! of an emulated system call, a pager retries the faulting instruction)
//! and resumes it; the arch sanitises the words so no edit can raise
//! privilege. Upcalls do not nest: an event inside a handler is handled as
//! if no handler were registered.

use exo_abi::{Error, upcall};
use hal::UserContext;
use hal::context::CONTEXT_WORDS;
use hal::mmu::AddressSpaceOps;

use super::{Kernel, Platform, usercopy};
use crate::cap::EnvId;

const _: () = assert!(
    CONTEXT_WORDS == upcall::CONTEXT_WORDS,
    "ABI and HAL disagree on the context size"
);

/// A registered handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Handler {
    pub(super) entry: u64,
    pub(super) stack_top: u64,
    /// Every system call from outside the handler is reflected.
    pub(super) reflect_all: bool,
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// `UPCALL_REGISTER(entry, stack_top)`.
    pub(super) fn upcall_register(
        &mut self,
        me: EnvId,
        entry: u64,
        stack_top: u64,
        flags: u64,
    ) -> Result<u64, Error> {
        if flags & !exo_abi::upcall_flags::ALL != 0 {
            return Err(Error::InvalidArgument);
        }
        let start = <P::Space as AddressSpaceOps>::USER_START;
        let end = <P::Space as AddressSpaceOps>::USER_END;
        let e = self.env_mut(me).ok_or(Error::NoSuchEnvironment)?;
        if entry == 0 && stack_top == 0 {
            e.upcall = None;
            return Ok(0);
        }
        let frame = upcall::FRAME_BYTES as u64 + 16;
        if !(start..end).contains(&entry)
            || stack_top < start + frame
            || stack_top > end
            || !stack_top.is_multiple_of(16)
        {
            return Err(Error::InvalidArgument);
        }
        e.upcall = Some(Handler {
            entry,
            stack_top,
            reflect_all: flags & exo_abi::upcall_flags::REFLECT_ALL != 0,
        });
        Ok(0)
    }

    /// Starts `me`'s handler for an event of `kind` that interrupted
    /// `context` (the current environment's). `Err` if there is no handler,
    /// one is already running, or the frame cannot be written; the caller
    /// then falls back to the default action.
    pub(super) fn deliver_upcall(
        &mut self,
        me: EnvId,
        context: &mut C,
        kind: u64,
        info: [u64; 4],
    ) -> Result<(), Error> {
        let e = self
            .envs
            .get(me.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(Error::NoSuchEnvironment)?;
        let handler = e
            .upcall
            .filter(|_| !e.in_upcall)
            .ok_or(Error::InvalidArgument)?;
        let mut words = [0u64; upcall::FRAME_WORDS];
        words[0] = kind;
        words[1..5].copy_from_slice(&info);
        words[upcall::CONTEXT..].copy_from_slice(&context.to_words());
        let mut bytes = [0u8; upcall::FRAME_BYTES];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        let frame = (handler.stack_top - upcall::FRAME_BYTES as u64) & !15;
        usercopy::copy_out(&mut self.platform, &e.space, frame, &bytes)?;
        let mut start = C::new_user(handler.entry, frame - 8, kind);
        start.set_results(&[0, kind, frame]);
        start.keep_vector_state(context);
        *context = start;
        if let Some(e) = self.env_mut(me) {
            e.in_upcall = true;
        }
        Ok(())
    }

    /// `UPCALL_RETURN(frame)`: resumes the context saved in `frame`.
    pub(super) fn upcall_return(
        &mut self,
        me: EnvId,
        context: &mut C,
        frame: u64,
    ) -> Result<(), Error> {
        let e = self
            .envs
            .get(me.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(Error::NoSuchEnvironment)?;
        if !e.in_upcall {
            return Err(Error::InvalidArgument);
        }
        let mut bytes = [0u8; upcall::FRAME_BYTES];
        usercopy::copy_in(&self.platform, &e.space, frame, &mut bytes)?;
        let mut words = [0u64; CONTEXT_WORDS];
        for (w, chunk) in words
            .iter_mut()
            .zip(bytes[upcall::CONTEXT * 8..].chunks_exact(8))
        {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        let mut resumed = C::from_words(&words);
        resumed.keep_vector_state(context);
        *context = resumed;
        if let Some(e) = self.env_mut(me) {
            e.in_upcall = false;
        }
        Ok(())
    }
}
