//! The exo system-call ABI, shared by the kernel and by user code (the
//! libOS's bare-metal backend, test programs).
//!
//! Everything here is plain numbers: call numbers, error codes, flag words
//! and the encoding of capability handles in a register. The register
//! convention and every call's arguments, required capabilities and errors
//! are specified in `docs/EXO_ABI.md`; this crate is its machine-readable
//! half. Keep the two in step.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::fmt;

/// System-call numbers.
pub mod call {
    /// Write bytes to the kernel console: `(ptr, len) -> len`.
    pub const DEBUG_WRITE: u64 = 0x00;
    /// End the calling environment: `(status) -> !`.
    pub const ENV_EXIT: u64 = 0x01;
    /// Give up the rest of the time slice: `() -> 0`.
    pub const YIELD: u64 = 0x02;
    /// The caller's environment id: `() -> id`.
    pub const ENV_SELF: u64 = 0x03;
    /// Register the upcall handler: `(entry, stack_top, upcall_flags) ->
    /// 0`; `(0, 0, 0)` removes it.
    pub const UPCALL_REGISTER: u64 = 0x04;
    /// Leave an upcall handler, resuming the (possibly edited) context in
    /// its frame: `(frame_ptr) -> !`.
    pub const UPCALL_RETURN: u64 = 0x05;
    /// Run another environment now on the rest of this slice:
    /// `(env) -> 0` (when the caller next runs).
    pub const YIELD_TO: u64 = 0x06;
    /// Create a suspended environment from an ELF image held in frames:
    /// `(frames handle, length) -> (env id, environment handle)`.
    pub const ENV_CREATE: u64 = 0x07;
    /// Start a created environment: `(environment handle) -> 0`.
    pub const ENV_START: u64 = 0x08;
    /// Destroy an environment: `(environment handle) -> 0`.
    pub const ENV_DESTROY: u64 = 0x09;
    /// Hand the time-slice slots a CPU-time capability names to another
    /// runner: `(cpu handle, env) -> slots moved`.
    pub const SLICE_ASSIGN: u64 = 0x0a;
    /// Nanoseconds since boot, monotonic: `() -> ns`.
    pub const CLOCK_GET: u64 = 0x0b;
    /// Fill a buffer from the kernel's random-number generator (HMAC-DRBG
    /// seeded from hardware entropy at boot): `(ptr, len) -> bytes written`
    /// (at most 256 per call).
    pub const RANDOM_GET: u64 = 0x0c;
    /// Wait for an environment to end: `(environment handle) -> status`
    /// (see [`exit_status`](super::exit_status)).
    pub const ENV_WAIT: u64 = 0x0d;
    /// Read the kernel's log (its early boot ring, for `/proc/bootlog`):
    /// `(ptr, len, offset) -> bytes copied` (at most 1024 per call; 0 at
    /// the end).
    pub const LOG_READ: u64 = 0x0e;
    /// Set the environment's thread pointer (x86_64 `FS_BASE`, aarch64
    /// `TPIDR_EL0`), kept per environment: `(base) -> 0`.
    pub const TLS_SET: u64 = 0x0f;
    /// Allocate physically contiguous frames: `(count, flags) -> handle`.
    pub const FRAME_ALLOC: u64 = 0x10;
    /// Free frames from `FRAME_ALLOC`, revoking and unmapping every
    /// derived capability: `(handle) -> 0`.
    pub const FRAME_FREE: u64 = 0x11;
    /// Secure binding: map frame `index` of a frames capability at user
    /// page `va`: `(handle, index, va, access) -> 0`.
    pub const MAP: u64 = 0x12;
    /// Remove the mapping of user page `va`: `(va) -> 0`.
    pub const UNMAP: u64 = 0x13;
    /// Change the access of user page `va`: `(va, access) -> 0`.
    pub const PROTECT: u64 = 0x14;
    /// Allocate contiguous frames for DMA, every byte below `limit`
    /// (0: anywhere): `(count, limit) -> (handle, physical address)`.
    pub const DMA_ALLOC: u64 = 0x15;
    /// Describe a capability: `(handle, out_ptr) -> 0`, writes a
    /// [`CapInfo`](super::CapInfo).
    pub const CAP_INFO: u64 = 0x20;
    /// Derive an attenuated child: `(handle, rights, first, count) -> handle`.
    pub const CAP_DERIVE: u64 = 0x21;
    /// Give a copy to another environment: `(handle, env, rights) -> handle`
    /// (the handle is valid in the receiver's table).
    pub const CAP_TRANSFER: u64 = 0x22;
    /// Revoke a capability and all its descendants: `(handle) -> count`.
    pub const CAP_REVOKE: u64 = 0x23;
    /// Drop one capability, keeping its descendants: `(handle) -> 0`.
    pub const CAP_DELETE: u64 = 0x24;
    /// The first live capability at slot `index` or later:
    /// `(index) -> handle` (`BadCapability` past the last).
    pub const CAP_NEXT: u64 = 0x25;
    /// Send a message, blocking until the receiver takes it:
    /// `(env, w0, w1, w2, w3, cap) -> 0`.
    pub const IPC_SEND: u64 = 0x30;
    /// Receive a message, blocking: `() -> (sender, w0, w1, w2, w3, cap)`.
    pub const IPC_RECV: u64 = 0x31;
    /// Send and wait for the receiver's reply:
    /// `(env, w0, w1, w2, w3, cap) -> (env, w0, w1, w2, w3, cap)`.
    pub const IPC_CALL: u64 = 0x32;
    /// Answer an environment blocked in `IPC_CALL` to the caller:
    /// `(env, w0, w1, w2, w3, cap) -> 0`.
    pub const IPC_REPLY: u64 = 0x33;
    /// Reply to a caller and wait for the next message in one call (the
    /// server loop's fast path; switches straight back to the caller):
    /// `(env, w0, w1, w2, w3, cap) -> (sender, w0, w1, w2, w3, cap)`.
    pub const IPC_REPLY_RECV: u64 = 0x34;
    /// Bind an interrupt line: `(irq handle, line, irq_flags) -> 0`.
    pub const IRQ_BIND: u64 = 0x40;
    /// Release a bound line: `(line) -> 0`.
    pub const IRQ_UNBIND: u64 = 0x41;
    /// Wait for bound lines to fire: `() -> bitmask of lines`.
    pub const IRQ_WAIT: u64 = 0x42;
    /// Unmask a line after servicing it: `(line) -> 0`.
    pub const IRQ_ACK: u64 = 0x43;
    /// Every call, by name (for documentation checks and tracing).
    pub const ALL: [(&str, u64); 37] = [
        ("DEBUG_WRITE", DEBUG_WRITE),
        ("ENV_EXIT", ENV_EXIT),
        ("YIELD", YIELD),
        ("ENV_SELF", ENV_SELF),
        ("UPCALL_REGISTER", UPCALL_REGISTER),
        ("UPCALL_RETURN", UPCALL_RETURN),
        ("YIELD_TO", YIELD_TO),
        ("ENV_CREATE", ENV_CREATE),
        ("ENV_START", ENV_START),
        ("ENV_DESTROY", ENV_DESTROY),
        ("SLICE_ASSIGN", SLICE_ASSIGN),
        ("CLOCK_GET", CLOCK_GET),
        ("RANDOM_GET", RANDOM_GET),
        ("ENV_WAIT", ENV_WAIT),
        ("LOG_READ", LOG_READ),
        ("TLS_SET", TLS_SET),
        ("FRAME_ALLOC", FRAME_ALLOC),
        ("FRAME_FREE", FRAME_FREE),
        ("MAP", MAP),
        ("UNMAP", UNMAP),
        ("PROTECT", PROTECT),
        ("DMA_ALLOC", DMA_ALLOC),
        ("CAP_INFO", CAP_INFO),
        ("CAP_DERIVE", CAP_DERIVE),
        ("CAP_TRANSFER", CAP_TRANSFER),
        ("CAP_REVOKE", CAP_REVOKE),
        ("CAP_DELETE", CAP_DELETE),
        ("CAP_NEXT", CAP_NEXT),
        ("IPC_SEND", IPC_SEND),
        ("IPC_RECV", IPC_RECV),
        ("IPC_CALL", IPC_CALL),
        ("IPC_REPLY", IPC_REPLY),
        ("IPC_REPLY_RECV", IPC_REPLY_RECV),
        ("IRQ_BIND", IRQ_BIND),
        ("IRQ_UNBIND", IRQ_UNBIND),
        ("IRQ_WAIT", IRQ_WAIT),
        ("IRQ_ACK", IRQ_ACK),
    ];
}

/// `flags` of `IRQ_BIND`: how the line signals.
pub mod irq_flags {
    /// Level-triggered (default: edge).
    pub const LEVEL: u64 = 1 << 0;
    /// Active low (default: active high).
    pub const ACTIVE_LOW: u64 = 1 << 1;
    /// Deliver the line as an `IRQ` upcall (to the registered handler)
    /// instead of a notification for `IRQ_WAIT`.
    pub const UPCALL: u64 = 1 << 2;
    /// Every defined bit.
    pub const ALL: u64 = LEVEL | ACTIVE_LOW | UPCALL;
}

/// Upcalls: how the kernel reflects events into an environment.
///
/// The handler registered with `UPCALL_REGISTER` starts with the upcall
/// kind in the first argument register and the address of an upcall frame
/// in the second, on its upcall stack just below the frame. The frame is
/// [`FRAME_WORDS`] little-endian words: `kind`, four info words, then the
/// interrupted context ([`CONTEXT_WORDS`] words, arch order in
/// `docs/EXO_ABI.md`). `UPCALL_RETURN` resumes the context in a frame.
pub mod upcall {
    /// A CPU exception: info = vector, faulting ip, fault address (or 0),
    /// error code.
    pub const FAULT: u64 = 1;
    /// A system call the kernel does not implement: info = call number;
    /// the arguments are in the saved context. Set the result register in
    /// the frame before returning — this is how a personality emulates a
    /// foreign ABI.
    pub const SYSCALL: u64 = 2;
    /// The time slice is over: save what you need and yield; the kernel
    /// preempts anyway one tick later.
    pub const SLICE_END: u64 = 3;
    /// Interrupt lines bound with `irq_flags::UPCALL` fired: info = the
    /// bitmask of lines. Each stays masked until `IRQ_ACK`.
    pub const IRQ: u64 = 4;
    /// Words of saved context in a frame.
    pub const CONTEXT_WORDS: usize = 34;
    /// Words in a frame.
    pub const FRAME_WORDS: usize = 5 + CONTEXT_WORDS;
    /// Bytes in a frame.
    pub const FRAME_BYTES: usize = FRAME_WORDS * 8;
    /// Index of the first context word.
    pub const CONTEXT: usize = 5;
}

/// `flags` of `UPCALL_REGISTER`.
pub mod upcall_flags {
    /// Reflect *every* system call made outside the handler as a `SYSCALL`
    /// upcall, not only unknown numbers: how a personality runs a foreign
    /// binary whose call numbers overlap exo's. Calls from inside the
    /// handler stay native exo calls.
    pub const REFLECT_ALL: u64 = 1 << 0;
    /// Every defined bit.
    pub const ALL: u64 = REFLECT_ALL;
}

/// `access` words for `MAP` and `PROTECT` (pages are always readable).
pub mod access {
    /// Writable.
    pub const WRITE: u64 = 1 << 0;
    /// Executable (never together with `WRITE`: W^X).
    pub const EXECUTE: u64 = 1 << 1;
    /// Every defined bit.
    pub const ALL: u64 = WRITE | EXECUTE;
}

/// Capability rights bits, as the kernel's rights lattice encodes them.
pub mod rights {
    /// Read the resource (map readable).
    pub const READ: u64 = 1 << 0;
    /// Write the resource (map writable).
    pub const WRITE: u64 = 1 << 1;
    /// Execute from the resource (map executable).
    pub const EXECUTE: u64 = 1 << 2;
    /// Create secure bindings (mappings) of the resource.
    pub const MAP: u64 = 1 << 3;
    /// Pass the capability to another environment.
    pub const GRANT: u64 = 1 << 4;
    /// Derive children.
    pub const DERIVE: u64 = 1 << 5;
    /// Revoke it and its descendants.
    pub const REVOKE: u64 = 1 << 6;
    /// Bind the resource to an event source (IRQ line, endpoint).
    pub const BIND: u64 = 1 << 7;
    /// Every defined bit.
    pub const ALL: u64 = (1 << 8) - 1;
}

/// How `ENV_WAIT` encodes the way an environment ended.
pub mod exit_status {
    /// `ENV_EXIT(code)`: the code's low 8 bits.
    pub const EXITED: u64 = 0;
    /// Killed by a CPU exception: `FAULTED | vector`.
    pub const FAULTED: u64 = 1 << 8;
    /// Ended as stalled (deadlock).
    pub const STALLED: u64 = 2 << 8;
    /// Destroyed by `ENV_DESTROY` or the kernel.
    pub const DESTROYED: u64 = 3 << 8;
}

/// "No capability" in a capability-carrying register.
pub const NO_CAP: u64 = u64::MAX;

/// Most frames one `FRAME_ALLOC` may return.
pub const MAX_FRAME_ALLOC: u64 = 512;

/// Bits of a handle that hold the slot index.
pub const HANDLE_INDEX_BITS: u32 = 24;

/// Packs a capability handle (slot `index`, `generation`) into a register:
/// the index in the low 24 bits, the low 40 bits of the generation above.
#[must_use]
pub const fn encode_handle(index: u32, generation: u64) -> u64 {
    (generation << HANDLE_INDEX_BITS) | (index as u64 & ((1 << HANDLE_INDEX_BITS) - 1))
}

/// Unpacks a handle register into (slot index, low 40 bits of generation).
#[must_use]
pub const fn decode_handle(raw: u64) -> (u32, u64) {
    (
        (raw & ((1 << HANDLE_INDEX_BITS) - 1)) as u32,
        raw >> HANDLE_INDEX_BITS,
    )
}

/// What `CAP_INFO` writes: six little-endian `u64`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CapInfo {
    /// Resource kind (1 frames, 2 CPU time, 3 DMA, 4 IRQ, 5 MMIO,
    /// 6 endpoint, 7 environment).
    pub kind: u64,
    /// Rights bits ([`rights`]).
    pub rights: u64,
    /// Security level 0..=15.
    pub level: u64,
    /// First unit of the range (for frames: the physical frame number).
    pub first: u64,
    /// Length of the range in units.
    pub count: u64,
    /// Badge (0 when unset).
    pub badge: u64,
}

impl CapInfo {
    /// Size in bytes.
    pub const SIZE: usize = 48;

    /// The little-endian wire form.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        let words = [
            self.kind,
            self.rights,
            self.level,
            self.first,
            self.count,
            self.badge,
        ];
        for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Parses the wire form.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut words = [0u64; 6];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_le_bytes(b);
        }
        let [kind, rights, level, first, count, badge] = words;
        Self {
            kind,
            rights,
            level,
            first,
            count,
            badge,
        }
    }
}

/// Every error a system call can return, as the negated code in the
/// result register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    /// No such system call.
    NoSuchCall = 1,
    /// A pointer is not mapped in the caller with the access needed, lies
    /// outside user space, or a range overflows.
    BadAddress = 2,
    /// An argument is malformed (undefined flag bits, misalignment, zero or
    /// oversized count, W^X violation …).
    InvalidArgument = 3,
    /// The handle names no live capability in the caller's table.
    BadCapability = 4,
    /// The capability lacks a right, or the request would amplify it.
    PermissionDenied = 5,
    /// Out of physical memory or page-table frames.
    NoMemory = 6,
    /// The environment id names no live environment.
    NoSuchEnvironment = 7,
    /// The virtual page is already mapped.
    AlreadyMapped = 8,
    /// The virtual page is not mapped.
    NotMapped = 9,
    /// The capability table is full.
    TableFull = 10,
    /// The information-flow rule forbids this transfer or message.
    FlowViolation = 11,
    /// The operation would block forever (e.g. sending to oneself).
    Deadlock = 12,
    /// The capability is of the wrong kind for this call.
    WrongKind = 13,
}

impl Error {
    /// Every error, for tests and tables.
    pub const ALL: [Self; 13] = [
        Self::NoSuchCall,
        Self::BadAddress,
        Self::InvalidArgument,
        Self::BadCapability,
        Self::PermissionDenied,
        Self::NoMemory,
        Self::NoSuchEnvironment,
        Self::AlreadyMapped,
        Self::NotMapped,
        Self::TableFull,
        Self::FlowViolation,
        Self::Deadlock,
        Self::WrongKind,
    ];

    /// The result-register value for this error: the negated code.
    #[must_use]
    pub const fn to_raw(self) -> u64 {
        (self as u64).wrapping_neg()
    }

    /// Decodes a result register: `Ok(value)` for non-negative values,
    /// the error for a known negated code.
    ///
    /// # Errors
    /// The decoded error; an unknown negative code becomes
    /// [`Error::InvalidArgument`].
    pub fn from_raw(raw: u64) -> Result<u64, Self> {
        if (raw as i64) >= 0 {
            return Ok(raw);
        }
        let code = raw.wrapping_neg();
        Err(Self::ALL
            .into_iter()
            .find(|e| *e as u64 == code)
            .unwrap_or(Self::InvalidArgument))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoSuchCall => "no such system call",
            Self::BadAddress => "bad user address",
            Self::InvalidArgument => "invalid argument",
            Self::BadCapability => "no such capability",
            Self::PermissionDenied => "permission denied",
            Self::NoMemory => "out of memory",
            Self::NoSuchEnvironment => "no such environment",
            Self::AlreadyMapped => "page already mapped",
            Self::NotMapped => "page not mapped",
            Self::TableFull => "capability table full",
            Self::FlowViolation => "information-flow violation",
            Self::Deadlock => "would deadlock",
            Self::WrongKind => "wrong kind of capability",
        })
    }
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn errors_round_trip_through_the_result_register() {
        for e in Error::ALL {
            assert!((e.to_raw() as i64) < 0);
            assert_eq!(Error::from_raw(e.to_raw()), Err(e));
        }
        assert_eq!(Error::from_raw(0), Ok(0));
        assert_eq!(Error::from_raw(i64::MAX as u64), Ok(i64::MAX as u64));
        assert_eq!(
            Error::from_raw(u64::MAX - 4000),
            Err(Error::InvalidArgument)
        );
    }

    #[test]
    fn handles_round_trip() {
        for (index, generation) in [(0, 1), (5, 3), ((1 << 24) - 1, (1 << 40) - 1)] {
            assert_eq!(
                decode_handle(encode_handle(index, generation)),
                (index, generation)
            );
        }
        // Index bits above 24 do not leak into the generation.
        assert_eq!(decode_handle(encode_handle(1 << 24, 7)), (0, 7));
        assert_ne!(encode_handle(0, 1), NO_CAP);
    }

    #[test]
    fn every_call_is_documented_with_its_number() {
        let doc = include_str!("../../../docs/EXO_ABI.md");
        let mut numbers = std::collections::BTreeSet::new();
        for (name, number) in call::ALL {
            assert!(
                numbers.insert(number),
                "{name}: number {number:#x} used twice"
            );
            let row = format!("| {number:#04x} | `{name}` |");
            assert!(doc.contains(&row), "docs/EXO_ABI.md lacks the row {row}");
        }
    }

    #[test]
    fn cap_info_round_trips() {
        let info = CapInfo {
            kind: 1,
            rights: rights::READ | rights::MAP,
            level: 15,
            first: 0x1234,
            count: 8,
            badge: 99,
        };
        assert_eq!(CapInfo::from_bytes(&info.to_bytes()), info);
    }
}
