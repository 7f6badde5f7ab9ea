//! IPC server for `ping`: maps the page it is given, answers round trips
//! (with `IPC_REPLY_RECV`, the server loop's fast path), confirms the page
//! disappears when `ping` revokes it, quits on request.
#![no_std]
#![no_main]

use exo_sys::{Error, Message, NO_CAP, println};

const PAGE: u64 = exo_sys::user_address(0x2000_0000);

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    let mut shared = NO_CAP;
    let Ok(mut m) = exo_sys::ipc_recv() else {
        return 1;
    };
    loop {
        let reply = match m.words[0] {
            1 => {
                shared = m.cap;
                if exo_sys::map(shared, 0, PAGE, 0).is_err() {
                    println!("pong: cannot map the shared page");
                    return 2;
                }
                let len = m.words[1].min(64) as usize;
                // SAFETY: PAGE is mapped readable and `len` fits in it.
                let bytes = unsafe { core::slice::from_raw_parts(PAGE as *const u8, len) };
                let text = core::str::from_utf8(bytes).unwrap_or("?");
                println!("pong: got a page from env {} saying '{text}'", m.from);
                // Writing through a read-only capability is refused.
                let writable = exo_sys::map(shared, 0, PAGE + 0x1000, exo_sys::access::WRITE);
                println!("pong: mapping it writable: {writable:?}");
                [2, 0, 0, 0]
            }
            10 => [11, m.words[1] + 1, 0, 0],
            20 => {
                let gone = exo_sys::cap_info(shared) == Err(Error::BadCapability)
                    && exo_sys::unmap(PAGE) == Err(Error::NotMapped);
                println!(
                    "pong: after revocation the page is {}",
                    if gone { "gone" } else { "STILL THERE" }
                );
                [if gone { 21 } else { 0 }, 0, 0, 0]
            }
            u64::MAX => {
                println!("pong: done");
                return 0;
            }
            _ => [0, 0, 0, 0],
        };
        // Answer and wait for the next request in one call.
        m = match exo_sys::ipc_reply_recv(m.from, &Message::new(reply)) {
            Ok(next) => next,
            Err(_) => return 3,
        };
    }
}
