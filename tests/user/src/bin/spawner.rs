//! Creates environments from user mode: writes a tiny ELF executable into
//! a frame it owns, `ENV_CREATE`s a child from it, starts it and donates
//! its slice to it; then creates another and destroys it unstarted.
#![no_std]
#![no_main]

use exo_sys::{access, println};

const PAGE: u64 = exo_sys::user_address(0x1000_0000);
const LOAD: u64 = exo_sys::user_address(0x40_0000);
const HEADERS: usize = 64 + 56;

/// The child's code: DEBUG_WRITE(msg, len); ENV_EXIT(42); then the message.
#[cfg(target_arch = "x86_64")]
const CODE: [u8; 28] = [
    0x48, 0x8d, 0x3d, 0x15, 0x00, 0x00, 0x00, // lea rdi, [rip + 21] (msg)
    0xbe, 14, 0x00, 0x00, 0x00, // mov esi, 14
    0x31, 0xc0, // xor eax, eax (DEBUG_WRITE)
    0x0f, 0x05, // syscall
    0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (ENV_EXIT)
    0xbf, 42, 0x00, 0x00, 0x00, // mov edi, 42
    0x0f, 0x05, // syscall
];
/// `EM_X86_64`.
#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62;

/// The child's code on aarch64, the same calls through `svc`.
#[cfg(target_arch = "aarch64")]
const CODE: [u8; 28] = words([
    0x1000_00e0, // adr x0, . + 28 (msg)
    0xd280_01c1, // mov x1, #14
    0xd280_0008, // mov x8, #0 (DEBUG_WRITE)
    0xd400_0001, // svc #0
    0xd280_0540, // mov x0, #42
    0xd280_0028, // mov x8, #1 (ENV_EXIT)
    0xd400_0001, // svc #0
]);
/// `EM_AARCH64`.
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = 183;

/// Instruction words as little-endian bytes.
#[cfg(target_arch = "aarch64")]
const fn words(w: [u32; 7]) -> [u8; 28] {
    let mut out = [0; 28];
    let mut i = 0;
    while i < 28 {
        out[i] = (w[i / 4] >> (8 * (i % 4))) as u8;
        i += 1;
    }
    out
}
const MESSAGE: &[u8; 14] = b"child says hi\n";

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A static ELF64 executable: one R+X segment holding headers, code and
/// message, loaded at `LOAD`, entry just after the headers.
fn build(buf: &mut [u8]) -> usize {
    let total = HEADERS + CODE.len() + MESSAGE.len();
    put(buf, 0, b"\x7fELF\x02\x01\x01");
    put(buf, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(buf, 18, &MACHINE.to_le_bytes());
    put(buf, 20, &1u32.to_le_bytes());
    put(buf, 24, &(LOAD + HEADERS as u64).to_le_bytes());
    put(buf, 32, &64u64.to_le_bytes()); // phoff
    put(buf, 52, &64u16.to_le_bytes());
    put(buf, 54, &56u16.to_le_bytes());
    put(buf, 56, &1u16.to_le_bytes());
    let ph = 64;
    put(buf, ph, &1u32.to_le_bytes()); // PT_LOAD
    put(buf, ph + 4, &5u32.to_le_bytes()); // R + X
    put(buf, ph + 16, &LOAD.to_le_bytes());
    put(buf, ph + 24, &LOAD.to_le_bytes());
    put(buf, ph + 32, &(total as u64).to_le_bytes());
    put(buf, ph + 40, &(total as u64).to_le_bytes());
    put(buf, ph + 48, &0x1000u64.to_le_bytes());
    put(buf, HEADERS, &CODE);
    put(buf, HEADERS + CODE.len(), MESSAGE);
    total
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let Ok(frame) = exo_sys::frame_alloc(1) else {
        return 1;
    };
    if exo_sys::map(frame, 0, PAGE, access::WRITE).is_err() {
        return 2;
    }
    // SAFETY: PAGE is a fresh writable page of ours.
    let buf = unsafe { core::slice::from_raw_parts_mut(PAGE as *mut u8, 4096) };
    let len = build(buf) as u64;
    let (child, handle) = match exo_sys::env_create(frame, len) {
        Ok(v) => v,
        Err(e) => {
            println!("spawner: ENV_CREATE failed: {e}");
            return 3;
        }
    };
    println!("spawner {env}: created env {child} from a {len}-byte image");
    if exo_sys::env_start(handle).is_err() {
        return 4;
    }
    // The tick may run the child to its end between the two calls: then
    // there is nobody to donate to, and that is no failure.
    match exo_sys::yield_to(child) {
        Ok(_) | Err(exo_sys::Error::NoSuchEnvironment) => {}
        Err(_) => return 4,
    }
    println!("spawner: back after donating to env {child}");
    // Either way its status waits to be collected, once.
    match exo_sys::env_wait(handle) {
        Ok(42) => println!("spawner: env {child} ended with status 42"),
        other => {
            println!("spawner: ENV_WAIT gave {other:?}");
            return 9;
        }
    }
    // A second child, destroyed before it ever runs.
    let Ok((second, handle2)) = exo_sys::env_create(frame, len) else {
        return 5;
    };
    match exo_sys::env_destroy(handle2) {
        Ok(_) => println!("spawner: destroyed suspended env {second}"),
        Err(e) => {
            println!("spawner: ENV_DESTROY failed: {e}");
            return 6;
        }
    }
    // Its handle is dead now.
    if exo_sys::env_start(handle2) != Err(exo_sys::Error::BadCapability) {
        return 7;
    }
    // A corrupt image is refused.
    buf[0] = 0;
    if exo_sys::env_create(frame, len) != Err(exo_sys::Error::InvalidArgument) {
        return 8;
    }
    println!("spawner: done");
    0
}
