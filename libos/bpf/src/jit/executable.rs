//! Executable memory and the jump into generated code: the crate's only
//! `unsafe`.
//!
//! Code buffers are W^X: a [`CodeMemory`] copies the machine code into
//! memory that is writable but not executable, then makes it executable
//! and no longer writable, and only then hands it out. Where the pages
//! come from is the embedder's business: [`HostCodeMemory`] uses
//! `mmap`/`mprotect` on a Linux host (feature `std`); a bare-metal
//! embedder implements the trait over its own page tables.
//!
//! On aarch64 the instruction fetch path is not coherent with data
//! writes: after copying code, the data cache lines must be cleaned to
//! the point of unification and the instruction cache lines invalidated
//! (`dc cvau`, `dsb ish`, `ic ivau`, `dsb ish`, `isb`), which
//! [`sync_instruction_cache`] does and [`HostCodeMemory`] calls before it
//! makes the pages executable (`mprotect` alone is not enough on real
//! hardware). [`enter`] also issues an `isb` before jumping into the code,
//! so a thread other than the installing one never runs stale
//! instructions.

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
/// verbatim, then made executable and read-only). On aarch64 that
/// includes making the instruction cache coherent with the copy, for
/// instance with [`sync_instruction_cache`] over the written bytes before
/// mapping them executable.
pub unsafe trait CodeMemory {
    /// Copies `code` into fresh memory, makes it executable and read-only,
    /// and returns it.
    ///
    /// # Errors
    /// [`JitError::NoMemory`] if no executable memory could be had.
    fn install(&self, code: &[u8]) -> Result<Box<dyn ExecutableCode>, JitError>;
}

/// Makes instruction fetches see the current contents of `code`: on
/// aarch64, cleans its data cache lines to the point of unification and
/// invalidates its instruction cache lines (`dc cvau`, `dsb ish`,
/// `ic ivau`, `dsb ish`, `isb`); on x86_64, whose instruction fetch is
/// coherent with stores, nothing.
///
/// For a [`CodeMemory`] implementation: call it on the bytes just
/// written, before they are mapped executable.
pub fn sync_instruction_cache(code: &[u8]) {
    #[cfg(target_arch = "aarch64")]
    {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 (cache type) has no side effects; it is
        // readable at EL1 and, on Linux, at EL0 (or emulated on a trap).
        unsafe {
            core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags));
        }
        // Line sizes in bytes: 4 << log2(words) of DminLine / IminLine.
        let dline = 4usize << ((ctr >> 16) & 0xf);
        let iline = 4usize << (ctr & 0xf);
        let start = code.as_ptr() as usize;
        let end = start + code.len();
        let mut at = start & !(dline - 1);
        while at < end {
            // SAFETY: `at` is in a cache line holding bytes of `code`,
            // which is mapped and readable (cache lines never straddle a
            // page); cleaning a line writes back its contents without
            // changing any value the program can observe.
            unsafe {
                core::arch::asm!("dc cvau, {}", in(reg) at, options(nostack, preserves_flags));
            }
            at += dline;
        }
        // SAFETY: a barrier; no memory or register effects.
        unsafe {
            core::arch::asm!("dsb ish", options(nostack, preserves_flags));
        }
        let mut at = start & !(iline - 1);
        while at < end {
            // SAFETY: as for `dc cvau`: a line of mapped, readable memory;
            // invalidating the instruction cache changes no data.
            unsafe {
                core::arch::asm!("ic ivau, {}", in(reg) at, options(nostack, preserves_flags));
            }
            at += iline;
        }
        // SAFETY: barriers; no memory or register effects.
        unsafe {
            core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags));
        }
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = code;
}

/// The entry point's signature: the backend's translate output starts
/// with a function taking the environment and returning `r0`.
#[cfg(target_arch = "x86_64")]
type Entry = extern "sysv64" fn(*mut Env<'_, '_, '_>) -> u64;
#[cfg(target_arch = "aarch64")]
type Entry = extern "C" fn(*mut Env<'_, '_, '_>) -> u64;

/// Runs generated code with `env`; returns its result (`r0` when the run
/// ended normally, see [`Env::status`]).
///
/// `code` must come from [`CodeMemory::install`] with the output of the
/// backend's `translate` (`x86_64.rs` or `aarch64.rs`) for `env.ops`;
/// [`super::JitProgram`] is the only caller and keeps the two together.
pub(crate) fn enter(code: &dyn ExecutableCode, env: &mut Env<'_, '_, '_>) -> u64 {
    // SAFETY: by the `ExecutableCode` contract, `entry` points at the
    // installed, executable bytes of `translate`'s output, whose first byte
    // is a function with the `Entry` signature and ABI (see `x86_64.rs` and
    // `aarch64.rs`: a standard prologue that saves every callee-saved
    // register it uses, keeps the stack pointer aligned at every call, and
    // restores both in the epilogue).
    let function: Entry = unsafe { core::mem::transmute::<*const u8, Entry>(code.entry()) };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a context synchronization barrier: instructions fetched
    // after it see the code installed (and synchronized with
    // `sync_instruction_cache`) before this call, even on another core.
    unsafe {
        core::arch::asm!("isb", options(nostack, preserves_flags));
    }
    // The generated code reaches `env` only through this pointer: it
    // spills registers into it and passes it to the callouts in
    // `runtime`, which take it as `&mut Env` one at a time. Besides its own
    // host stack it touches only the run's stack, context and packet
    // slices, through the addresses and lengths `Env::new` took from the
    // `Memory` that `env` borrows exclusively for the run, after bounds
    // checks equal to `Memory`'s (x86_64 only); every other program load
    // and store is a callout through `Memory`'s accessors. The
    // instruction budget bounds its running time, and a failure anywhere
    // (including inside nested BPF-to-BPF calls) returns through the
    // epilogue with the stack pointer reset from `env`.
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
            // SAFETY: `len` initialised (zero-filled, then copied) bytes of
            // our own mapping, not written again while this shared view
            // lives.
            let written = unsafe { core::slice::from_raw_parts(start.as_ptr(), len) };
            super::sync_instruction_cache(written);
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
