//! Doors across personalities: an illumos door server and a Linux client
//! in separate environments of the hosted exokernel, the server on its
//! own host thread (hosted only).

use std::sync::Arc;

use exo_personality_tests::check;

use super::*;

/// illumos `door` (201) and its subcodes (`sys/door.h`).
const DOOR: u64 = 201;
const DOOR_CREATE: u64 = 0;
const DOOR_REVOKE: u64 = 1;
const DOOR_RETURN: u64 = 10;
const DOOR_DESCRIPTOR: u32 = 0x10000;
const DOOR_PROC: u64 = 0x40_2000;
const DOOR_COOKIE: u64 = 0xd00c_0001;
const DOOR_STACK: u64 = 4096;

/// An illumos door server and a Linux client, each bound to an exo
/// environment, with the door delegated to the Linux process over a
/// channel (a Cap'n Proto message carrying the door descriptor).
struct DoorPair {
    m: Mixed,
    server: Proc,
    client: Proc,
    server_env: Arc<exo_hosted::HostedEnv>,
    client_env: Arc<exo_hosted::HostedEnv>,
    /// The door as a descriptor in the server (illumos numbering).
    server_fd: u64,
    /// The door as a descriptor in the Linux client.
    client_fd: u64,
}

fn door_pair() -> Result<DoorPair, String> {
    let m = Mixed::new();
    let (mut server, client) = (m.spawn("illumos"), m.spawn("linux"));
    let server_env = Arc::new(
        m.machine
            .spawn("door-server")
            .map_err(|e| format!("{e:?}"))?,
    );
    let client_env = Arc::new(
        m.machine
            .spawn("linux-client")
            .map_err(|e| format!("{e:?}"))?,
    );
    exo_illumos::attach(&m.sys, server.pid, server_env.clone());
    exo_illumos::attach(&m.sys, client.pid, client_env.clone());
    let server_fd = m
        .call(
            &mut server,
            DOOR,
            &[DOOR_PROC, DOOR_COOKIE, 0, 0, 0, DOOR_CREATE],
        )
        .map_err(|e| format!("door_create: {e}"))?;
    let (cs, cl) = channel(&m.sys, server.pid, client.pid).map_err(|e| format!("{e:?}"))?;
    send(
        &m.sys,
        server.pid,
        cs,
        &message(&server, Body::Bytes(b"door".to_vec())),
        &[(server_fd, Rights::READ)],
    )
    .map_err(|e| format!("send door: {e:?}"))?;
    let got = recv(&m.sys, client.pid, cl, true)
        .map_err(|e| format!("{e:?}"))?
        .ok_or("closed")?;
    check!(got.fds.len() == 1, "the door arrives as one descriptor");
    Ok(DoorPair {
        m,
        server,
        client,
        server_env,
        client_env,
        server_fd,
        client_fd: got.fds[0],
    })
}

/// One invocation as the illumos server reads it from `struct
/// door_results` at its stack base.
struct Invocation {
    cookie: u64,
    data: Vec<u8>,
    descs: Vec<(u32, i32)>,
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// `door_return` through the illumos ABI: answers with `result` and
/// `descs` (illumos descriptors), then waits for the next invocation.
fn door_return(
    m: &Mixed,
    server: &mut Proc,
    result: &[u8],
    descs: &[i32],
    stack: u64,
) -> Result<Invocation, i64> {
    let data = server.put(result);
    let drd = if descs.is_empty() {
        0
    } else {
        let mut dd = Vec::new();
        for &fd in descs {
            let mut d = [0u8; 24];
            d[0..4].copy_from_slice(&DOOR_DESCRIPTOR.to_le_bytes());
            d[4..8].copy_from_slice(&fd.to_le_bytes());
            dd.extend_from_slice(&d);
        }
        let dp = server.put(&dd);
        let mut r = [0u8; 16];
        r[0..8].copy_from_slice(&dp.to_le_bytes());
        r[8..12].copy_from_slice(&(descs.len() as u32).to_le_bytes());
        server.put(&r)
    };
    let at = m.call(
        server,
        DOOR,
        &[
            data,
            result.len() as u64,
            drd,
            stack,
            DOOR_STACK,
            DOOR_RETURN,
        ],
    )?;
    let head = server.get(at, 48);
    let (dp, n) = (le_u64(&head[8..]), le_u64(&head[16..]) as usize);
    let (descp, nd) = (le_u64(&head[24..]), le_u64(&head[32..]) as usize);
    let mut descs = Vec::new();
    for i in 0..nd {
        let d = server.get(descp + i as u64 * 24, 8);
        descs.push((
            u32::from_le_bytes(d[0..4].try_into().expect("4")),
            i32::from_le_bytes(d[4..8].try_into().expect("4")),
        ));
    }
    Ok(Invocation {
        cookie: le_u64(&head),
        data: server.get(dp, n),
        descs,
    })
}

/// The door behind a descriptor of `p`.
fn door_behind(m: &Mixed, p: &Proc, fd: u64) -> Result<Arc<exo_illumos::door::Door>, String> {
    let file = m
        .sys
        .procs
        .with(p.pid, |q| q.fds.file(fd as i64))
        .map_err(|e| format!("{e:?}"))?
        .map_err(|e| format!("{e:?}"))?;
    exo_illumos::door::door_of(&file).ok_or_else(|| "not a door".to_string())
}

pub fn linux_hands_a_file_to_an_illumos_door() -> Result<(), String> {
    let DoorPair {
        m,
        mut server,
        mut client,
        server_env,
        client_env,
        client_fd,
        ..
    } = door_pair()?;
    write_file(&m, &mut client, "/tmp/for-the-door", b"linux wrote this");
    let file_fd = open(&m, &mut client, "/tmp/for-the-door", 0);
    let file = m
        .sys
        .procs
        .with(client.pid, |q| q.fds.file(file_fd as i64))
        .map_err(|e| format!("{e:?}"))?
        .map_err(|e| format!("{e:?}"))?;
    let door = door_behind(&m, &client, client_fd)?;
    let stack = server.buf(DOOR_STACK as usize);
    let outcome = std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<(), String> {
            let inv = door_return(&m, &mut server, &[], &[], stack)
                .map_err(|e| format!("door_return: {e}"))?;
            check!(inv.cookie == DOOR_COOKIE, "the door's cookie");
            check!(inv.data == b"read it", "arguments: {:?}", inv.data);
            check!(
                inv.descs.len() == 1 && inv.descs[0].0 & DOOR_DESCRIPTOR != 0,
                "one passed descriptor: {:?}",
                inv.descs
            );
            // The Linux file is now an illumos descriptor: read(2) = 3.
            let fd = inv.descs[0].1 as u64;
            let buf = server.buf(64);
            let n = m.call(&mut server, 3, &[fd, buf, 64]);
            check!(n == Ok(16), "illumos read of the Linux file: {n:?}");
            let reply = server.get(buf, 16).to_ascii_uppercase();
            let next = door_return(&m, &mut server, &reply, &[], stack);
            check!(matches!(next, Err(4)), "interrupted: illumos EINTR 4");
            Ok(())
        });
        let r = exo_illumos::door::call(
            &m.sys,
            client.pid,
            &door,
            exo_illumos::door::Payload {
                data: b"read it".to_vec(),
                files: vec![Arc::clone(&file)],
            },
        );
        let _ = exo_illumos::door::interrupt(&*client_env, server_env.id());
        srv.join().map_err(|_| "server panicked".to_string())??;
        let reply = r.map_err(|e| format!("door call: {e:?}"))?;
        check!(
            reply.data == b"LINUX WROTE THIS",
            "results: {:?}",
            reply.data
        );
        check!(reply.files.is_empty(), "no descriptors back");
        Ok::<(), String>(())
    });
    outcome?;
    // Descriptor passing shares the open file description: the server's
    // read moved the Linux descriptor's offset to the end.
    let buf = client.buf(8);
    check!(
        m.call(&mut client, 0, &[file_fd, buf, 8]) == Ok(0),
        "shared offset at EOF"
    );
    Ok(())
}

pub fn illumos_door_returns_a_descriptor_to_linux() -> Result<(), String> {
    let DoorPair {
        m,
        mut server,
        mut client,
        server_env,
        client_env,
        client_fd,
        ..
    } = door_pair()?;
    write_file(&m, &mut server, "/tmp/from-illumos", b"served by a door");
    let door = door_behind(&m, &client, client_fd)?;
    let stack = server.buf(DOOR_STACK as usize);
    std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<(), String> {
            door_return(&m, &mut server, &[], &[], stack).map_err(|e| format!("{e}"))?;
            let p = server.cstr("/tmp/from-illumos");
            let fd = m
                .call(&mut server, 5, &[p, 0])
                .map_err(|e| format!("open {e}"))?;
            let next = door_return(&m, &mut server, b"ok", &[fd as i32], stack);
            check!(matches!(next, Err(4)), "interrupted: EINTR");
            Ok(())
        });
        let r = exo_illumos::door::call(&m.sys, client.pid, &door, Default::default());
        let _ = exo_illumos::door::interrupt(&*client_env, server_env.id());
        srv.join().map_err(|_| "server panicked".to_string())??;
        let reply = r.map_err(|e| format!("door call: {e:?}"))?;
        check!(
            reply.data == b"ok" && reply.files.len() == 1,
            "one descriptor back"
        );
        // Installed in the Linux process, it reads through Linux read(2).
        let fd = m
            .sys
            .procs
            .with(client.pid, |q| {
                q.fds.insert(Arc::clone(&reply.files[0]), false)
            })
            .map_err(|e| format!("{e:?}"))?
            .map_err(|e| format!("{e:?}"))? as u64;
        let buf = client.buf(32);
        let n = m.call(&mut client, 0, &[fd, buf, 32]);
        check!(n == Ok(16), "Linux read: {n:?}");
        check!(client.get(buf, 16) == b"served by a door", "contents");
        Ok::<(), String>(())
    })
}

pub fn revoked_door_fails_the_linux_caller() -> Result<(), String> {
    let DoorPair {
        m,
        mut server,
        client,
        server_fd,
        client_fd,
        ..
    } = door_pair()?;
    let door = door_behind(&m, &client, client_fd)?;
    check!(
        m.call(&mut server, DOOR, &[server_fd, 0, 0, 0, 0, DOOR_REVOKE]) == Ok(0),
        "door_revoke by the server"
    );
    check!(door.revoked(), "the delegated door is the same door");
    let r = exo_illumos::door::call(&m.sys, client.pid, &door, Default::default());
    check!(
        r.as_ref().err() == Some(&Errno::EBADF),
        "call on a revoked door: {r:?}"
    );
    // In the Linux process's convention: -EBADF (9).
    check!(
        exo_linux::result(r.map(|_| 0)) == -9,
        "-EBADF for the Linux caller"
    );
    Ok(())
}
