//! Executable memory and the jump into generated code: the crate's only
//! `unsafe`.
//!
//! Code buffers are W^X: a [`CodeMemory`] copies the machine code into
//! memory that is writable but not executable, then makes it executable
//! and no longer writable, and only then hands it out. Where the pages
//! come from is the embedder's business: [`HostCodeMemory`] uses
//! `mmap`/`mprotect` on a Linux host (feature `std`); a bare-metal
//! embedder implements the trait over its own page tables.

use alloc::boxed::Box;
use core::fmt::Debug;

use super::JitError;
use super::runtime::Env;

/// Machine code installed in executable, non-writable memory.
///
/// # Safety
///
/// [`ExecutableCode::entry`] must return the address of the first byte of
/// exactly the code given to the [`CodeMemory::install`] call that
/// produced this value; those bytes must stay mapped, executable and
/// unmodified for as long as the value lives.
pub unsafe trait ExecutableCode: Debug + Send + Sync {
    /// Address of the first instruction.
    fn entry(&self) -> *const u8;
}

/// A source of executable memory for the JIT.
///
/// # Safety
///
/// Implementations must return from [`CodeMemory::install`] a value whose
/// [`ExecutableCode`] contract holds for the bytes they were given (copied
/// verbatim, then made executable and read-only).
pub unsafe trait CodeMemory {
    /// Copies `code` into fresh memory, makes it executable and read-only,
    /// and returns it.
    ///
    /// # Errors
    /// [`JitError::NoMemory`] if no executable memory could be had.
    fn install(&self, code: &[u8]) -> Result<Box<dyn ExecutableCode>, JitError>;
}

/// Runs generated code with `env`; returns `rax` (`r0` when the run ended
/// normally, see [`Env::status`]).
///
/// `code` must come from [`CodeMemory::install`] with the output of
/// [`super::x86_64::translate`] for `env.ops`; [`super::JitProgram`] is the
/// only caller and keeps the two together.
pub(crate) fn enter(code: &dyn ExecutableCode, env: &mut Env<'_, '_, '_>) -> u64 {
    type Entry = extern "sysv64" fn(*mut Env<'_, '_, '_>) -> u64;
    // SAFETY: by the `ExecutableCode` contract, `entry` points at the
    // installed, executable bytes of `translate`'s output, whose first byte
    // is a function with the `Entry` signature (see `x86_64.rs`: a
    // standard prologue that saves every callee-saved register it uses,
    // keeps rsp aligned at every call, and restores both in the epilogue).
    let function: Entry = unsafe { core::mem::transmute::<*const u8, Entry>(code.entry()) };
    // The generated code reaches `env` only through this pointer: it
    // spills registers into it and passes it to the callouts in
    // `runtime`, which take it as `&mut Env` one at a time. It touches no
    // other memory than its own host stack; every program load and store
    // is a callout that goes through `Memory`'s bounds checks. The
    // instruction budget bounds its running time, and a failure anywhere
    // (including inside nested BPF-to-BPF calls) returns through the
    // epilogue with rsp reset from `env`.
    function(env)
}

#[cfg(all(feature = "std", target_os = "linux"))]
pub use host::HostCodeMemory;

#[cfg(all(feature = "std", target_os = "linux"))]
mod host {
    use alloc::boxed::Box;
    use core::ptr::NonNull;

    use super::{CodeMemory, ExecutableCode, JitError};

    /// Executable memory from `mmap`, made read-execute with `mprotect`.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct HostCodeMemory;

    #[derive(Debug)]
    struct Mapping {
        start: NonNull<u8>,
        len: usize,
    }

    // SAFETY: the mapping is read-only once installed, so sharing or
    // moving it across threads cannot race; `Drop` unmaps it exactly once.
    unsafe impl Send for Mapping {}
    // SAFETY: as above; `&Mapping` only exposes the address.
    unsafe impl Sync for Mapping {}

    // SAFETY: `start` is the mapping `install` filled with the code and
    // made PROT_READ|PROT_EXEC; it is unmapped only in `Drop`.
    unsafe impl ExecutableCode for Mapping {
        fn entry(&self) -> *const u8 {
            self.start.as_ptr()
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: `start`/`len` describe a mapping this value owns and
            // nothing else refers to once it is dropped (a `JitProgram`
            // cannot run without holding it).
            unsafe {
                libc::munmap(self.start.as_ptr().cast(), self.len);
            }
        }
    }

    // SAFETY: the bytes are copied verbatim into a private anonymous
    // mapping that is then switched to read+execute; the returned
    // `Mapping` owns it.
    unsafe impl CodeMemory for HostCodeMemory {
        fn install(&self, code: &[u8]) -> Result<Box<dyn ExecutableCode>, JitError> {
            let len = code.len().max(1);
            // SAFETY: a fresh anonymous mapping; no existing memory is
            // affected.
            let raw = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if raw == libc::MAP_FAILED {
                return Err(JitError::NoMemory);
            }
            let start = NonNull::new(raw.cast::<u8>()).ok_or(JitError::NoMemory)?;
            let mapping = Mapping { start, len };
            // SAFETY: the mapping is `len >= code.len()` writable bytes we
            // own, and cannot overlap `code`, which was mapped before it.
            unsafe {
                core::ptr::copy_nonoverlapping(code.as_ptr(), start.as_ptr(), code.len());
            }
            // SAFETY: changes the protection of our own mapping only; on
            // failure `mapping`'s `Drop` unmaps it.
            let rc = unsafe {
                libc::mprotect(
                    start.as_ptr().cast(),
                    len,
                    libc::PROT_READ | libc::PROT_EXEC,
                )
            };
            if rc != 0 {
                return Err(JitError::NoMemory);
            }
            Ok(Box::new(mapping))
        }
    }
}
