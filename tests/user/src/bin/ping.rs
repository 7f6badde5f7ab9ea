//! IPC client: shares a page with `pong` (the next environment) by passing
//! a frame capability, measures call/reply round trips, revokes the page
//! and checks `pong` lost it, then tells it to quit.
#![no_std]
#![no_main]

use exo_sys::{Message, access, println, rights};

const PAGE: u64 = exo_sys::user_address(0x1000_0000);
const ROUNDS: u64 = 1000;

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let pong = env + 1;
    let Ok(frame) = exo_sys::frame_alloc(1) else {
        return 1;
    };
    if exo_sys::map(frame, 0, PAGE, access::WRITE).is_err() {
        return 2;
    }
    let text = b"a secret from ping";
    // SAFETY: PAGE is mapped writable; the text fits in it.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), PAGE as *mut u8, text.len()) };
    let Ok(info) = exo_sys::cap_info(frame) else {
        return 3;
    };
    // A read-only, grantable child to give away; REVOKE lets us take it
    // (and every copy made from it) back later without losing `frame`.
    let shared_rights = rights::READ | rights::MAP | rights::GRANT | rights::REVOKE;
    let Ok(shared) = exo_sys::cap_derive(frame, shared_rights, info.first, 1) else {
        return 4;
    };
    let mut hello = Message::new([1, text.len() as u64, 0, 0]);
    hello.cap = shared;
    match exo_sys::ipc_call(pong, &hello) {
        Ok(reply) if reply.words[0] == 2 => println!("ping: pong read the shared page"),
        other => {
            println!("ping: bad first reply {other:?}");
            return 5;
        }
    }
    let start = exo_sys::timestamp();
    for i in 0..ROUNDS {
        match exo_sys::ipc_call(pong, &Message::new([10, i, 0, 0])) {
            Ok(reply) if reply.words[1] == i + 1 => {}
            other => {
                println!("ping: round {i} failed: {other:?}");
                return 6;
            }
        }
    }
    let each = (exo_sys::timestamp() - start) / ROUNDS;
    println!(
        "ping: {ROUNDS} IPC round trips, {each} {} each",
        exo_sys::TIMESTAMP_UNIT
    );
    let revoked = exo_sys::cap_revoke(shared);
    println!("ping: revoked the shared page ({revoked:?} capabilities)");
    match exo_sys::ipc_call(pong, &Message::new([20, 0, 0, 0])) {
        Ok(reply) if reply.words[0] == 21 => println!("ping: pong lost the page"),
        other => {
            println!("ping: pong still sees the page: {other:?}");
            return 7;
        }
    }
    let _ = exo_sys::ipc_send(pong, &Message::new([u64::MAX, 0, 0, 0]));
    println!("ping: done");
    0
}
