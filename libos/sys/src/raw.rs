//! The system-call instruction and every call over it.
//!
//! x86_64: `syscall`, RAX = number; RDI, RSI, RDX, R10, R8, R9 =
//! arguments; results in RAX, RDI, RSI, RDX, R10, R8. RCX and R11 are
//! clobbered by the instruction.
//!
//! aarch64: `svc #0`, x8 = number; x0–x5 = arguments; results in x0–x5.

use crate::Message;
use exo_abi::{CapInfo, Error, call};

/// Issues system call `number` with `args`; returns the six result
/// registers.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub fn syscall6(number: u64, args: [u64; 6]) -> [u64; 6] {
    let (x0, x1, x2, x3, x4, x5): (u64, u64, u64, u64, u64, u64);
    // SAFETY: `svc` enters the kernel, which preserves every register
    // except the result registers listed, and touches no memory of ours
    // except through pointers we pass explicitly.
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x8") number,
            inlateout("x0") args[0] => x0,
            inlateout("x1") args[1] => x1,
            inlateout("x2") args[2] => x2,
            inlateout("x3") args[3] => x3,
            inlateout("x4") args[4] => x4,
            inlateout("x5") args[5] => x5,
            options(nostack),
        );
    }
    [x0, x1, x2, x3, x4, x5]
}

/// Issues system call `number` with `args`; returns the six result
/// registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn syscall6(number: u64, args: [u64; 6]) -> [u64; 6] {
    let (rax, rdi, rsi, rdx, r10, r8): (u64, u64, u64, u64, u64, u64);
    // SAFETY: `syscall` enters the kernel, which preserves every register
    // except the result registers listed and RCX/R11, and touches no memory
    // of ours except through pointers we pass explicitly.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => rax,
            inlateout("rdi") args[0] => rdi,
            inlateout("rsi") args[1] => rsi,
            inlateout("rdx") args[2] => rdx,
            inlateout("r10") args[3] => r10,
            inlateout("r8") args[4] => r8,
            in("r9") args[5],
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    [rax, rdi, rsi, rdx, r10, r8]
}

/// Issues a call that returns one value or an error.
#[inline(always)]
pub fn syscall(number: u64, args: &[u64]) -> Result<u64, Error> {
    let mut a = [0u64; 6];
    for (slot, v) in a.iter_mut().zip(args) {
        *slot = *v;
    }
    Error::from_raw(syscall6(number, a)[0])
}

/// Writes `bytes` to the kernel console; returns how many were written.
pub fn debug_write(bytes: &[u8]) -> Result<u64, Error> {
    syscall(
        call::DEBUG_WRITE,
        &[bytes.as_ptr() as u64, bytes.len() as u64],
    )
}

/// Ends this environment.
pub fn exit(status: u64) -> ! {
    let _ = syscall(call::ENV_EXIT, &[status]);
    // The kernel never returns from ENV_EXIT.
    loop {
        core::hint::spin_loop();
    }
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    let _ = syscall(call::YIELD, &[]);
}

/// This environment's id.
pub fn env_self() -> u64 {
    syscall(call::ENV_SELF, &[]).unwrap_or(u64::MAX)
}

/// Allocates `count` contiguous frames; returns the capability handle.
pub fn frame_alloc(count: u64) -> Result<u64, Error> {
    syscall(call::FRAME_ALLOC, &[count, 0])
}

/// Frees an allocation by its root handle.
pub fn frame_free(handle: u64) -> Result<u64, Error> {
    syscall(call::FRAME_FREE, &[handle])
}

/// Maps frame `index` of `handle` at `va` with `access` bits.
pub fn map(handle: u64, index: u64, va: u64, access: u64) -> Result<u64, Error> {
    syscall(call::MAP, &[handle, index, va, access])
}

/// Changes the access of user page `va` (W^X: never write and execute).
pub fn protect(va: u64, access: u64) -> Result<u64, Error> {
    syscall(call::PROTECT, &[va, access])
}

/// Unmaps user page `va`.
pub fn unmap(va: u64) -> Result<u64, Error> {
    syscall(call::UNMAP, &[va])
}

/// Describes capability `handle`.
pub fn cap_info(handle: u64) -> Result<CapInfo, Error> {
    let mut out = [0u8; CapInfo::SIZE];
    syscall(call::CAP_INFO, &[handle, out.as_mut_ptr() as u64])?;
    Ok(CapInfo::from_bytes(&out))
}

/// Derives a child of `handle` with `rights` over `[first, first + count)`.
pub fn cap_derive(handle: u64, rights: u64, first: u64, count: u64) -> Result<u64, Error> {
    syscall(call::CAP_DERIVE, &[handle, rights, first, count])
}

/// Gives environment `env` a copy of `handle` with `rights`.
pub fn cap_transfer(handle: u64, env: u64, rights: u64) -> Result<u64, Error> {
    syscall(call::CAP_TRANSFER, &[handle, env, rights])
}

/// Revokes `handle` and its descendants.
pub fn cap_revoke(handle: u64) -> Result<u64, Error> {
    syscall(call::CAP_REVOKE, &[handle])
}

/// Sends `message` to `to`, blocking until it is received.
pub fn ipc_send(to: u64, message: &Message) -> Result<(), Error> {
    Error::from_raw(syscall6(call::IPC_SEND, message.args(to))[0]).map(|_| ())
}

/// Receives the next message, blocking.
pub fn ipc_recv() -> Result<Message, Error> {
    Message::from_results(syscall6(call::IPC_RECV, [0; 6]))
}

/// Sends `message` to `to` and waits for its reply.
pub fn ipc_call(to: u64, message: &Message) -> Result<Message, Error> {
    Message::from_results(syscall6(call::IPC_CALL, message.args(to)))
}

/// Replies to `to` (waiting in [`ipc_call`]) and waits for the next
/// message: a server loop's one call per request.
pub fn ipc_reply_recv(to: u64, message: &Message) -> Result<Message, Error> {
    Message::from_results(syscall6(call::IPC_REPLY_RECV, message.args(to)))
}

/// Replies to `to`, which is waiting in [`ipc_call`].
pub fn ipc_reply(to: u64, message: &Message) -> Result<(), Error> {
    Error::from_raw(syscall6(call::IPC_REPLY, message.args(to))[0]).map(|_| ())
}

/// Registers `entry` as the upcall entry point, running on the stack that
/// ends at `stack_top` (16-byte aligned). The registers it starts with are
/// the architecture's (docs/EXO_ABI.md): on x86_64 it is
/// `extern "C" fn(kind: u64, frame: *mut u64) -> !`; Rust handlers use
/// [`upcall_install`], which hides the difference. It ends with
/// [`upcall_return`].
pub fn upcall_register(entry: u64, stack_top: u64) -> Result<u64, Error> {
    syscall(call::UPCALL_REGISTER, &[entry, stack_top, 0])
}

/// An upcall handler in Rust: the upcall's kind and its frame (see
/// [`exo_abi::upcall`]); it ends with [`upcall_return`].
pub type UpcallHandler = fn(kind: u64, frame: *mut u64) -> !;

/// The handler [`upcall_install`] registered (0: none yet).
static UPCALL_HANDLER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Where the kernel enters on aarch64: 0 in x0 (the result register),
/// the kind in x1 and the frame in x2 (docs/EXO_ABI.md).
#[cfg(target_arch = "aarch64")]
extern "C" fn upcall_entry(_zero: u64, kind: u64, frame: *mut u64) -> ! {
    dispatch_upcall(kind, frame)
}

/// Where the kernel enters on x86_64: the kind in RDI, the frame in RSI.
#[cfg(target_arch = "x86_64")]
extern "C" fn upcall_entry(kind: u64, frame: *mut u64) -> ! {
    dispatch_upcall(kind, frame)
}

fn dispatch_upcall(kind: u64, frame: *mut u64) -> ! {
    let handler = UPCALL_HANDLER.load(core::sync::atomic::Ordering::Acquire);
    if handler == 0 {
        upcall_return(frame)
    }
    // SAFETY: only `upcall_install` stores into the slot, and it stores an
    // `UpcallHandler`.
    let handler = unsafe { core::mem::transmute::<usize, UpcallHandler>(handler) };
    handler(kind, frame)
}

/// Registers `handler` for this environment's upcalls, run on the stack
/// at `stack_top` (16-byte aligned), through an entry that hides how the
/// architecture passes the kind and the frame.
pub fn upcall_install(handler: UpcallHandler, stack_top: u64) -> Result<u64, Error> {
    UPCALL_HANDLER.store(handler as usize, core::sync::atomic::Ordering::Release);
    upcall_register(upcall_entry as *const () as u64, stack_top)
}

/// [`upcall_register`] with `exo_abi::upcall_flags` (e.g. `REFLECT_ALL`
/// for a personality running a foreign binary).
pub fn upcall_register_with(entry: u64, stack_top: u64, flags: u64) -> Result<u64, Error> {
    syscall(call::UPCALL_REGISTER, &[entry, stack_top, flags])
}

/// Sets this environment's thread pointer (`FS_BASE`).
pub fn tls_set(base: u64) -> Result<u64, Error> {
    syscall(call::TLS_SET, &[base])
}

/// Leaves an upcall handler, resuming the context in `frame`.
pub fn upcall_return(frame: *mut u64) -> ! {
    let _ = syscall(call::UPCALL_RETURN, &[frame as u64]);
    // Only reached if `frame` was unreadable: nothing sensible to resume.
    exit(102)
}

/// The first live capability at slot `index` or later.
pub fn cap_next(index: u64) -> Result<u64, Error> {
    syscall(call::CAP_NEXT, &[index])
}

/// The first capability of resource `kind` (see [`CapInfo::kind`]) in
/// this environment's table, with its description: how a driver finds the
/// device capabilities its boot manifest granted.
pub fn cap_find(kind: u64) -> Option<(u64, CapInfo)> {
    let mut index = 0;
    while let Ok(handle) = cap_next(index) {
        if let Ok(info) = cap_info(handle)
            && info.kind == kind
        {
            return Some((handle, info));
        }
        index = u64::from(exo_abi::decode_handle(handle).0) + 1;
    }
    None
}

/// Allocates `count` contiguous frames for DMA below `limit` (0: anywhere):
/// the handle and the physical address to program into the device.
pub fn dma_alloc(count: u64, limit: u64) -> Result<(u64, u64), Error> {
    let r = syscall6(call::DMA_ALLOC, [count, limit, 0, 0, 0, 0]);
    Error::from_raw(r[0]).map(|h| (h, r[1]))
}

/// Binds interrupt `line` (covered by the IRQ capability `handle`).
pub fn irq_bind(handle: u64, line: u64, flags: u64) -> Result<u64, Error> {
    syscall(call::IRQ_BIND, &[handle, line, flags])
}

/// Waits for bound lines; returns the bitmask of those that fired.
pub fn irq_wait() -> Result<u64, Error> {
    syscall(call::IRQ_WAIT, &[])
}

/// Unmasks `line` after servicing the device.
pub fn irq_ack(line: u64) -> Result<u64, Error> {
    syscall(call::IRQ_ACK, &[line])
}

/// Releases `line`.
pub fn irq_unbind(line: u64) -> Result<u64, Error> {
    syscall(call::IRQ_UNBIND, &[line])
}

/// Creates a suspended environment from the first `len` bytes of the
/// frames `handle` names (an ELF image): its id and environment handle.
pub fn env_create(handle: u64, len: u64) -> Result<(u64, u64), Error> {
    let r = syscall6(call::ENV_CREATE, [handle, len, 0, 0, 0, 0]);
    Error::from_raw(r[0]).map(|id| (id, r[1]))
}

/// Starts a created environment.
pub fn env_start(handle: u64) -> Result<u64, Error> {
    syscall(call::ENV_START, &[handle])
}

/// Destroys an environment.
pub fn env_destroy(handle: u64) -> Result<u64, Error> {
    syscall(call::ENV_DESTROY, &[handle])
}

/// Waits until the environment `handle` names has ended (at once if it
/// already has) and collects how it ended: its exit status word.
pub fn env_wait(handle: u64) -> Result<u64, Error> {
    syscall(call::ENV_WAIT, &[handle])
}

/// Runs `env` now on the rest of this time slice.
pub fn yield_to(env: u64) -> Result<u64, Error> {
    syscall(call::YIELD_TO, &[env])
}

/// A timestamp for measuring short intervals in user code, in
/// [`TIMESTAMP_UNIT`]s: the TSC on x86_64.
#[cfg(target_arch = "x86_64")]
#[must_use]
pub fn timestamp() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// A timestamp for measuring short intervals in user code, in
/// [`TIMESTAMP_UNIT`]s: the generic timer's virtual count on aarch64
/// (the kernel lets EL0 read it).
#[cfg(target_arch = "aarch64")]
#[must_use]
pub fn timestamp() -> u64 {
    let count: u64;
    // SAFETY: reading CNTVCT_EL0 has no side effects; the `isb` keeps the
    // read from being hoisted above earlier instructions.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack))
    };
    count
}

/// What [`timestamp`] counts.
#[cfg(target_arch = "x86_64")]
pub const TIMESTAMP_UNIT: &str = "TSC cycles";
/// What [`timestamp`] counts.
#[cfg(target_arch = "aarch64")]
pub const TIMESTAMP_UNIT: &str = "counter ticks";
