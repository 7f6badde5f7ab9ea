//! The hosted backend runs the real exokernel: capability rules, IPC
//! between environments on different threads, preemption by the clock.

use std::thread;

use exo_abi::{Error, NO_CAP, access, rights};
use exo_hosted::{Config, Machine};
use exo_sys::{Exo, Message};

const PAGE: u64 = 0x1000_0000;

#[test]
fn an_environment_uses_the_abi_and_the_kernel_checks_it() {
    let m = Machine::new(Config::default());
    let env = m.spawn("app").expect("spawn");
    assert_eq!(env.env_self(), env.id());
    assert_eq!(env.debug_write(b"hello, hosted\n"), Ok(14));
    assert_eq!(m.console(), b"hello, hosted\n");
    let t0 = env.clock_ns();
    let mut r1 = [0u8; 300];
    let mut r2 = [0u8; 300];
    env.random(&mut r1).expect("random");
    env.random(&mut r2).expect("random");
    assert_ne!(r1, r2);
    assert!(env.clock_ns() >= t0);

    let frames = env.frame_alloc(2).expect("alloc");
    let info = env.cap_info(frames).expect("info");
    assert_eq!((info.kind, info.count), (1, 2));
    env.map(frames, 0, PAGE, access::WRITE).expect("map");
    assert_eq!(env.map(frames, 0, PAGE, 0), Err(Error::AlreadyMapped));
    let ro = env
        .cap_derive(frames, rights::READ | rights::MAP, info.first + 1, 1)
        .expect("derive");
    assert_eq!(
        env.map(ro, 0, PAGE + 0x1000, access::WRITE),
        Err(Error::PermissionDenied)
    );
    assert_eq!(
        env.map(frames, 0, 0x1000, 0),
        Err(Error::BadAddress),
        "kernel range"
    );
    assert_eq!(
        env.cap_revoke(ro),
        Err(Error::PermissionDenied),
        "no REVOKE right"
    );
    assert_eq!(env.cap_delete(ro), Ok(()));
    assert_eq!(env.cap_info(ro), Err(Error::BadCapability));
    env.frame_free(frames).expect("free");
    env.exit(0);
    assert_eq!(env.debug_write(b"x"), Err(Error::NoSuchEnvironment));
    assert_eq!(m.exits().len(), 1);
}

#[test]
fn environments_on_threads_ping_pong_and_share_a_capability() {
    let m = Machine::new(Config::default());
    let server = m.spawn("server").expect("server");
    let client = m.spawn("client").expect("client");
    let server_id = server.id();
    let server_thread = thread::spawn(move || {
        let mut msg = server.ipc_recv().expect("first request");
        let mut served = 0u64;
        loop {
            if msg.words[0] == u64::MAX {
                return (served, msg.cap);
            }
            served += 1;
            let reply = Message::new([msg.words[0] * 2, 0, 0, 0]);
            msg = server
                .ipc_reply_recv(msg.from, &reply)
                .expect("next request");
        }
    });
    for i in 0..200u64 {
        let reply = client
            .ipc_call(server_id, &Message::new([i, 0, 0, 0]))
            .expect("call");
        assert_eq!(reply.words[0], i * 2);
        assert_eq!(reply.from, server_id);
    }
    // Pass a frame capability with the last message.
    let frames = client.frame_alloc(1).expect("alloc");
    let mut last = Message::new([u64::MAX, 0, 0, 0]);
    last.cap = frames;
    client.ipc_send(server_id, &last).expect("send");
    let (served, cap) = server_thread.join().expect("server thread");
    assert_eq!(served, 200);
    assert_ne!(cap, NO_CAP, "the capability arrived");
    // The server's copy dies with the client's root.
    client.frame_free(frames).expect("free");
    let alive = m.with_kernel(|k| k.caps().live_caps(exokernel::cap::EnvId(server_id as u32)));
    assert!(alive.is_ok());
}

#[test]
fn a_busy_environment_is_preempted_by_the_clock() {
    let m = Machine::new(Config::default());
    let busy = m.spawn("busy").expect("busy");
    let polite = m.spawn("polite").expect("polite");
    // `busy` is current and never calls the kernel for a while; `polite`
    // still gets its turn once a slice has passed.
    assert_eq!(
        m.with_kernel(|k| k.current()).map(|e| u64::from(e.0)),
        Some(busy.id())
    );
    let t = thread::spawn(move || polite.debug_write(b"polite ran\n"));
    assert_eq!(t.join().expect("thread"), Ok(11));
    assert!(String::from_utf8_lossy(&m.console()).contains("polite ran"));
    // And `busy` can still run afterwards.
    assert_eq!(busy.debug_write(b"busy ran\n"), Ok(9));
}

#[test]
fn a_deadlock_is_reported_not_hung() {
    let m = Machine::new(Config::default());
    let a = m.spawn("a").expect("a");
    let b = m.spawn("b").expect("b");
    let ta = thread::spawn(move || a.ipc_recv());
    let tb = thread::spawn(move || b.ipc_recv());
    assert_eq!(ta.join().expect("a"), Err(Error::NoSuchEnvironment));
    assert_eq!(tb.join().expect("b"), Err(Error::NoSuchEnvironment));
    assert!(m.exits().iter().all(|r| r.to_string().contains("stalled")));
}
