//! Greets, then proves it owns memory: allocates a frame, maps it, writes
//! and reads it back, unmaps it, and exits 0.
#![no_std]
#![no_main]

use exo_sys::{access, println};

const PAGE: u64 = exo_sys::user_address(0x1000_0000);

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    println!("hello from env {env}");
    let Ok(frame) = exo_sys::frame_alloc(1) else {
        println!("hello: frame_alloc failed");
        return 1;
    };
    if exo_sys::map(frame, 0, PAGE, access::WRITE).is_err() {
        println!("hello: map failed");
        return 2;
    }
    let p = PAGE as *mut u64;
    // SAFETY: PAGE was just mapped writable in this address space.
    let back = unsafe {
        p.write_volatile(0x5eed_cafe);
        p.read_volatile()
    };
    // A frame we hold no capability for cannot be mapped: a forged handle
    // (a slot we never filled) and a real handle with a wrong generation.
    let forged = exo_sys::map(0x00ff_ffff, 0, PAGE + 0x1000, 0);
    let stale = exo_sys::map(frame ^ (1 << 30), 0, PAGE + 0x1000, 0);
    println!("hello: mapping unowned frames: {forged:?}, {stale:?}");
    let info = exo_sys::cap_info(frame).map(|i| i.first).unwrap_or(0);
    println!("hello: frame {info:#x} mapped at {PAGE:#x}, read back {back:#x}");
    if exo_sys::unmap(PAGE).is_err() || exo_sys::frame_free(frame).is_err() {
        return 3;
    }
    println!("hello: done");
    0
}
