//! Doors between a server and a client process in separate environments
//! of the hosted exokernel, the server on its own host thread (hosted
//! only).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use exo_hosted::HostedEnv;
use exo_personality_tests::check;
use libos::system::System;

use super::*;

// The door call (sys/syscall.h) and its errno values beyond the shared ones.
const DOOR: u64 = 201;
const EPERM: u32 = 1;
const EINTR: u32 = 4;
const E2BIG: u32 = 7;
const EDEADLK: u32 = 45;

// door subcodes (sys/door.h).
const DOOR_CREATE: u64 = 0;
const DOOR_REVOKE: u64 = 1;
const DOOR_INFO: u64 = 2;
const DOOR_CALL: u64 = 3;
const DOOR_RETURN: u64 = 10;
const DOOR_LOCAL: u32 = 0x04;
const DOOR_REVOKED: u32 = 0x08;
const DOOR_UNREF: u64 = 0x01;
const DOOR_DESCRIPTOR: u32 = 0x10000;
const DOOR_RELEASE: u32 = 0x40000;
const DOOR_QUERY: u64 = -2i64 as u64;

/// One process of a door test: its pid and memory.
struct Proc {
    pid: Pid,
    mem: VecMemory,
    next: u64,
}

impl Proc {
    fn new(pid: Pid) -> Self {
        let mut mem = VecMemory::new();
        mem.map(MEM, MEM_LEN);
        Self {
            pid,
            mem,
            next: MEM + (MEM_LEN as u64) / 2,
        }
    }

    fn put(&mut self, b: &[u8]) -> u64 {
        let at = self.next;
        self.mem.write(at, b).expect("scratch");
        self.next = (at + b.len() as u64 + 16).next_multiple_of(16);
        at
    }

    fn get(&self, at: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.mem.read(at, &mut b).expect("scratch");
        b
    }

    fn u64(&self, at: u64) -> u64 {
        u64::from_le_bytes(self.get(at, 8).try_into().expect("8"))
    }

    fn sys(&mut self, sys: &System, nr: u64, a: [u64; 6]) -> Result<i64, u32> {
        split(exo_illumos::syscall(
            &mut Ctx {
                sys,
                pid: self.pid,
                mem: &mut self.mem,
            },
            nr,
            a,
        ))
    }

    fn door(&mut self, sys: &System, sub: u64, a: [u64; 5]) -> Result<i64, u32> {
        self.sys(sys, DOOR, [a[0], a[1], a[2], a[3], a[4], sub])
    }

    /// A `door_arg_t` for `data` with `descs`, results into a fresh
    /// `rsize`-byte buffer.
    fn door_arg(&mut self, data: &[u8], descs: &[(u32, i32)], rsize: usize) -> (u64, u64) {
        let dp = self.put(data);
        let mut dd = Vec::new();
        for &(attr, fd) in descs {
            let mut d = [0u8; 24];
            d[0..4].copy_from_slice(&attr.to_le_bytes());
            d[4..8].copy_from_slice(&fd.to_le_bytes());
            dd.extend_from_slice(&d);
        }
        let descp = if descs.is_empty() { 0 } else { self.put(&dd) };
        let rbuf = self.put(&vec![0u8; rsize]);
        let mut arg = [0u8; 48];
        arg[0..8].copy_from_slice(&dp.to_le_bytes());
        arg[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
        arg[16..24].copy_from_slice(&descp.to_le_bytes());
        arg[24..28].copy_from_slice(&(descs.len() as u32).to_le_bytes());
        arg[32..40].copy_from_slice(&rbuf.to_le_bytes());
        arg[40..48].copy_from_slice(&(rsize as u64).to_le_bytes());
        (self.put(&arg), rbuf)
    }
}

/// A machine with a door server process (the world's) and a client
/// process forked from it after the door was created (so it inherited the
/// door descriptor), each bound to its own exo environment.
struct Doors {
    w: World,
    server_env: Arc<HostedEnv>,
    client_env: Arc<HostedEnv>,
    client: Proc,
    door_fd: u64,
}

const PROC: u64 = 0x40_2000;
const COOKIE: u64 = 0xc00c_1e00;
const STACK_LEN: u64 = 16 * 1024;

fn doors() -> Result<Doors, String> {
    let mut w = World::new();
    let server_env = Arc::new(
        w.machine
            .spawn("door-server")
            .map_err(|e| format!("{e:?}"))?,
    );
    exo_illumos::attach(&w.sys, w.pid, server_env.clone());
    let door_fd = sc(&mut w, DOOR, &[PROC, COOKIE, DOOR_UNREF, 0, 0, DOOR_CREATE])
        .map_err(|e| format!("door_create: {e}"))? as u64;
    let cpid = w.sys.procs.fork(w.pid).map_err(|e| e.to_string())?;
    let client_env = Arc::new(
        w.machine
            .spawn("door-client")
            .map_err(|e| format!("{e:?}"))?,
    );
    exo_illumos::attach(&w.sys, cpid, client_env.clone());
    Ok(Doors {
        w,
        server_env,
        client_env,
        client: Proc::new(cpid),
        door_fd,
    })
}

/// What the server's user code sees for one invocation.
struct Invocation {
    cookie: u64,
    data: Vec<u8>,
    descs: Vec<(u32, i32)>,
    pc: u64,
}

/// `door_return` in the server (the world's process): returns the next
/// invocation as read back from `struct door_results` at the stack base.
fn door_return(
    sys: &System,
    server: &mut Proc,
    result: &[u8],
    descs: &[(u32, i32)],
    stack: u64,
) -> Result<Invocation, u32> {
    let data = server.put(result);
    let drd = if descs.is_empty() {
        0
    } else {
        let mut dd = Vec::new();
        for &(attr, fd) in descs {
            let mut d = [0u8; 24];
            d[0..4].copy_from_slice(&attr.to_le_bytes());
            d[4..8].copy_from_slice(&fd.to_le_bytes());
            dd.extend_from_slice(&d);
        }
        let dp = server.put(&dd);
        let mut r = [0u8; 16];
        r[0..8].copy_from_slice(&dp.to_le_bytes());
        r[8..12].copy_from_slice(&(descs.len() as u32).to_le_bytes());
        server.put(&r)
    };
    let at = server.door(
        sys,
        DOOR_RETURN,
        [data, result.len() as u64, drd, stack, STACK_LEN],
    )? as u64;
    let dp = server.u64(at + 8);
    let n = server.u64(at + 16) as usize;
    let descp = server.u64(at + 24);
    let nd = server.u64(at + 32) as usize;
    let mut got = Vec::new();
    for i in 0..nd {
        let d = server.get(descp + i as u64 * 24, 8);
        got.push((
            u32::from_le_bytes(d[0..4].try_into().expect("4")),
            i32::from_le_bytes(d[4..8].try_into().expect("4")),
        ));
    }
    Ok(Invocation {
        cookie: server.u64(at),
        data: server.get(dp, n),
        descs: got,
        pc: server.u64(at + 40),
    })
}

pub fn door_create_info_and_fstat() -> Result<(), String> {
    let mut d = doors()?;
    let w = &mut d.w;
    let fd = d.door_fd;
    let info = w.put(&[0xee; 52]);
    check!(
        sc(w, DOOR, &[fd, info, 0, 0, 0, DOOR_INFO]) == Ok(0),
        "door_info"
    );
    check!(u32_at(w, info, 0) == w.pid, "di_target at 0");
    check!(u64_at(w, info, 4) == PROC, "di_proc at 4 (packed)");
    check!(u64_at(w, info, 12) == COOKIE, "di_data at 12");
    check!(
        u32_at(w, info, 20) == DOOR_UNREF as u32 | DOOR_LOCAL,
        "di_attributes at 20 with DOOR_LOCAL in the server: {:#x}",
        u32_at(w, info, 20)
    );
    let id = u64_at(w, info, 24);
    check!(id != 0, "di_uniquifier at 24");
    check!(
        w.get(info + 32, 16) == [0; 16] && w.get(info + 48, 4) == [0xee; 4],
        "di_resv zeroed, door_info_t is 48 bytes"
    );
    let st = w.buf(128);
    check!(sc(w, FSTAT, &[fd, st]) == Ok(0), "fstat a door");
    check!(
        u32_at(w, st, 16) & 0xf000 == 0xd000,
        "S_IFDOOR: {:#x}",
        u32_at(w, st, 16)
    );
    // The client's view of the same door: not local.
    let client_info = d.client.put(&[0; 48]);
    check!(
        d.client
            .door(&d.w.sys, DOOR_INFO, [fd, client_info, 0, 0, 0])
            == Ok(0),
        "door_info in the client"
    );
    let attrs = u32::from_le_bytes(d.client.get(client_info + 20, 4).try_into().expect("4"));
    check!(attrs == DOOR_UNREF as u32, "no DOOR_LOCAL in the client");
    check!(
        u64::from_le_bytes(d.client.get(client_info + 24, 8).try_into().expect("8")) == id,
        "same uniquifier"
    );
    let w = &mut d.w;
    check!(
        sc(w, DOOR, &[PROC, COOKIE, 0x100, 0, 0, DOOR_CREATE]) == Err(EINVAL),
        "unknown attributes"
    );
    let tmp = w.cstr("/tmp");
    let plain = sc(w, OPEN, &[tmp, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(w, DOOR, &[plain, info, 0, 0, 0, DOOR_INFO]) == Err(EBADF),
        "door_info on a non-door"
    );
    check!(
        sc(w, DOOR, &[DOOR_QUERY, info, 0, 0, 0, DOOR_INFO]) == Err(EBADF),
        "DOOR_QUERY while serving nothing"
    );
    check!(
        sc(w, DOOR, &[fd, 0, 0, 0, 0, 6]) == Err(EINVAL),
        "DOOR_BIND is not provided"
    );
    // A process without an environment cannot serve a door.
    let lone = w.sys.procs.fork(w.pid).map_err(|e| e.to_string())?;
    let mut p = Proc::new(lone);
    check!(
        p.door(&w.sys, DOOR_CREATE, [PROC, 0, 0, 0, 0]) == Err(EINVAL),
        "no environment"
    );
    Ok(())
}

pub fn door_call_blocks_until_door_return() -> Result<(), String> {
    let Doors {
        w,
        server_env,
        client_env,
        mut client,
        door_fd,
    } = doors()?;
    let sys = &w.sys;
    let mut server = Proc::new(w.pid);
    let stack = server.put(&vec![0u8; STACK_LEN as usize]);
    let returned = AtomicBool::new(false);
    let (arg, rbuf) = client.door_arg(b"hello door", &[], 64);
    let outcome = std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<(), String> {
            let inv = door_return(sys, &mut server, &[], &[], stack)
                .map_err(|e| format!("first door_return: {e}"))?;
            check!(
                inv.cookie == COOKIE && inv.pc == PROC,
                "cookie and procedure delivered"
            );
            check!(inv.data == b"hello door", "arguments: {:?}", inv.data);
            // While the server runs the procedure the client stays blocked.
            std::thread::sleep(Duration::from_millis(50));
            check!(
                !returned.load(Ordering::SeqCst),
                "door_call returned before door_return"
            );
            let q = server.put(&[0u8; 48]);
            check!(
                server.door(sys, DOOR_INFO, [DOOR_QUERY, q, 0, 0, 0]) == Ok(0)
                    && server.u64(q + 12) == COOKIE,
                "DOOR_QUERY names the door being served"
            );
            let reply = inv.data.to_ascii_uppercase();
            // Returns the results, then waits for the next call, which the
            // client's interrupt ends.
            let next = door_return(sys, &mut server, &reply, &[], stack);
            check!(
                matches!(next, Err(EINTR)),
                "interrupted while waiting: EINTR"
            );
            Ok(())
        });
        let start = Instant::now();
        let r = client.door(sys, DOOR_CALL, [door_fd, arg, 0, 0, 0]);
        returned.store(true, Ordering::SeqCst);
        let took = start.elapsed();
        let _ = exo_illumos::door::interrupt(&*client_env, server_env.id());
        let served = srv.join().map_err(|_| "server panicked".to_string())?;
        served?;
        check!(r == Ok(0), "door_call: {r:?}");
        check!(took >= Duration::from_millis(50), "blocked: {took:?}");
        Ok::<(), String>(())
    });
    outcome?;
    check!(client.get(rbuf, 10) == b"HELLO DOOR", "results in rbuf");
    check!(client.u64(arg) == rbuf, "data_ptr = rbuf");
    check!(client.u64(arg + 8) == 10, "data_size = result length");
    check!(
        client.u64(arg + 16) == 0 && client.get(arg + 24, 4) == [0; 4],
        "no descriptors returned"
    );
    check!(
        client.u64(arg + 32) == rbuf && client.u64(arg + 40) == 64,
        "rbuf and rsize unchanged"
    );
    Ok(())
}

pub fn door_descriptor_passing() -> Result<(), String> {
    let Doors {
        mut w,
        server_env,
        client_env,
        mut client,
        door_fd,
    } = doors()?;
    create(&mut w, "/tmp/secret", b"from the server")?;
    let sys = &w.sys;
    let mut server = Proc::new(w.pid);
    let stack = server.put(&vec![0u8; STACK_LEN as usize]);
    // The client passes the write end of a pipe, releasing its own copy.
    let fds = client.put(&[0; 8]);
    client
        .sys(sys, PIPE, [fds, 0, 0, 0, 0, 0])
        .map_err(|e| format!("pipe {e}"))?;
    let pf = client.get(fds, 8);
    let (rd, wr) = (
        i32::from_le_bytes(pf[0..4].try_into().expect("4")),
        i32::from_le_bytes(pf[4..8].try_into().expect("4")),
    );
    let (arg, rbuf) = client.door_arg(b"fd", &[(DOOR_DESCRIPTOR | DOOR_RELEASE, wr)], 128);
    let outcome = std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<(), String> {
            let inv = door_return(sys, &mut server, &[], &[], stack)
                .map_err(|e| format!("door_return: {e}"))?;
            check!(inv.descs.len() == 1, "one descriptor: {:?}", inv.descs);
            let (attr, sfd) = inv.descs[0];
            check!(attr & DOOR_DESCRIPTOR != 0, "DOOR_DESCRIPTOR");
            // The passed descriptor is a new, working fd of the server.
            let msg = server.put(b"via door");
            check!(
                server.sys(sys, WRITE, [sfd as u64, msg, 8, 0, 0, 0]) == Ok(8),
                "server writes through the passed pipe"
            );
            let path = server.put(b"/tmp/secret\0");
            let secret = server
                .sys(sys, OPEN, [path, O_RDONLY, 0, 0, 0, 0])
                .map_err(|e| format!("open {e}"))?;
            let next = door_return(
                sys,
                &mut server,
                b"ok",
                &[(DOOR_DESCRIPTOR | DOOR_RELEASE, secret as i32)],
                stack,
            );
            check!(matches!(next, Err(EINTR)), "interrupted: {:?}", next.err());
            check!(
                server.sys(sys, FCNTL, [secret as u64, 1, 0, 0, 0, 0]) == Err(EBADF),
                "DOOR_RELEASE closed the server's copy"
            );
            Ok(())
        });
        let r = client.door(sys, DOOR_CALL, [door_fd, arg, 0, 0, 0]);
        let _ = exo_illumos::door::interrupt(&*client_env, server_env.id());
        srv.join().map_err(|_| "server panicked".to_string())??;
        check!(r == Ok(0), "door_call: {r:?}");
        Ok::<(), String>(())
    });
    outcome?;
    let wpipe = client.put(b"?");
    check!(
        client.sys(sys, WRITE, [wr as u64, wpipe, 1, 0, 0, 0]) == Err(EBADF),
        "DOOR_RELEASE closed the client's write end (its slot now holds the read-only returned file)"
    );
    let buf = client.put(&[0; 32]);
    check!(
        client.sys(sys, READ, [rd as u64, buf, 32, 0, 0, 0]) == Ok(8)
            && client.get(buf, 8) == b"via door",
        "the server's write arrived through the passed descriptor"
    );
    check!(client.get(rbuf, 2) == b"ok", "result data");
    check!(client.u64(arg + 8) == 2, "data_size");
    let descp = client.u64(arg + 16);
    check!(
        descp == rbuf + 8 && client.get(arg + 24, 4) == [1, 0, 0, 0],
        "one descriptor after the data, 8-aligned"
    );
    let d = client.get(descp, 24);
    let attr = u32::from_le_bytes(d[0..4].try_into().expect("4"));
    let nfd = i32::from_le_bytes(d[4..8].try_into().expect("4"));
    check!(attr == DOOR_DESCRIPTOR, "returned desc attributes");
    check!(
        nfd == wr,
        "the returned descriptor took the lowest free slot, the released one"
    );
    let out = client.put(&[0; 32]);
    check!(
        client.sys(sys, READ, [nfd as u64, out, 32, 0, 0, 0]) == Ok(15)
            && client.get(out, 15) == b"from the server",
        "the returned fd reads the server's file"
    );
    Ok(())
}

pub fn door_revoke_semantics() -> Result<(), String> {
    let Doors {
        w,
        server_env,
        client_env,
        mut client,
        door_fd,
    } = doors()?;
    let sys = &w.sys;
    let mut server = Proc::new(w.pid);
    let stack = server.put(&vec![0u8; STACK_LEN as usize]);
    // A second client that also holds the door.
    let mut other = Proc::new(sys.procs.fork(client.pid).map_err(|e| e.to_string())?);
    let (other_arg, _) = other.door_arg(b"late", &[], 16);
    check!(
        client.door(sys, DOOR_REVOKE, [door_fd, 0, 0, 0, 0]) == Err(EPERM),
        "only the server revokes"
    );
    let (arg, rbuf) = client.door_arg(b"first", &[], 16);
    let outcome = std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<(), String> {
            let inv = door_return(sys, &mut server, &[], &[], stack)
                .map_err(|e| format!("door_return: {e}"))?;
            check!(inv.data == b"first", "first call arrived");
            // Revoke while the call is in flight.
            check!(
                server.door(sys, DOOR_REVOKE, [door_fd, 0, 0, 0, 0]) == Ok(0),
                "door_revoke"
            );
            check!(
                server.sys(sys, FCNTL, [door_fd, 1, 0, 0, 0, 0]) == Err(EBADF),
                "door_revoke closed the server's descriptor"
            );
            check!(
                other.door(sys, DOOR_CALL, [door_fd, other_arg, 0, 0, 0]) == Err(EBADF),
                "new calls fail with EBADF"
            );
            let next = door_return(sys, &mut server, b"done", &[], stack);
            check!(matches!(next, Err(EINTR)), "interrupted");
            Ok(())
        });
        let r = client.door(sys, DOOR_CALL, [door_fd, arg, 0, 0, 0]);
        let _ = exo_illumos::door::interrupt(&*client_env, server_env.id());
        srv.join().map_err(|_| "server panicked".to_string())??;
        check!(r == Ok(0), "the in-flight call completed: {r:?}");
        Ok::<(), String>(())
    });
    outcome?;
    check!(client.get(rbuf, 4) == b"done", "with its results");
    let info = client.put(&[0; 48]);
    check!(
        client.door(sys, DOOR_INFO, [door_fd, info, 0, 0, 0]) == Ok(0),
        "door_info still works on a revoked door"
    );
    let attrs = u32::from_le_bytes(client.get(info + 20, 4).try_into().expect("4"));
    check!(attrs & DOOR_REVOKED != 0, "DOOR_REVOKED: {attrs:#x}");
    let (again, _) = client.door_arg(b"again", &[], 16);
    check!(
        client.door(sys, DOOR_CALL, [door_fd, again, 0, 0, 0]) == Err(EBADF),
        "EBADF after revocation"
    );
    Ok(())
}

pub fn door_call_errors() -> Result<(), String> {
    let mut d = doors()?;
    let sys = &d.w.sys;
    let mut server = Proc::new(d.w.pid);
    // The server calling its own door: exo IPC to oneself is refused by
    // the kernel (one environment per process here).
    let (arg, _) = server.door_arg(b"me", &[], 16);
    check!(
        server.door(sys, DOOR_CALL, [d.door_fd, arg, 0, 0, 0]) == Err(EDEADLK),
        "self call: EDEADLK 45"
    );
    check!(
        d.client.door(sys, DOOR_CALL, [0x77, arg, 0, 0, 0]) == Err(EBADF),
        "not a descriptor"
    );
    let fds = d.client.put(&[0; 8]);
    d.client
        .sys(sys, PIPE, [fds, 0, 0, 0, 0, 0])
        .map_err(|e| e.to_string())?;
    let pipe_fd = u64::from(u32::from_le_bytes(
        d.client.get(fds, 4).try_into().expect("4"),
    ));
    let (carg, _) = d.client.door_arg(b"x", &[], 16);
    check!(
        d.client.door(sys, DOOR_CALL, [pipe_fd, carg, 0, 0, 0]) == Err(EBADF),
        "a pipe is not a door"
    );
    check!(
        d.client
            .door(sys, DOOR_CALL, [d.door_fd, 0xdead_0000, 0, 0, 0])
            == Err(EFAULT),
        "bad door_arg_t"
    );
    let (bad, _) = d.client.door_arg(b"y", &[(0, 0)], 16);
    check!(
        d.client.door(sys, DOOR_CALL, [d.door_fd, bad, 0, 0, 0]) == Err(EINVAL),
        "a desc without DOOR_DESCRIPTOR"
    );
    let (bad_fd, _) = d.client.door_arg(b"y", &[(DOOR_DESCRIPTOR, 99)], 16);
    check!(
        d.client.door(sys, DOOR_CALL, [d.door_fd, bad_fd, 0, 0, 0]) == Err(EBADF),
        "passing a closed descriptor"
    );
    check!(
        d.client.door(sys, 4, [0, 0, 0, 0, 0]) == Err(EINVAL),
        "unknown subcode"
    );
    // Results larger than rbuf: the personality cannot map a new buffer.
    let stack = server.put(&vec![0u8; STACK_LEN as usize]);
    let (small, _) = d.client.door_arg(b"z", &[], 4);
    let client_env = Arc::clone(&d.client_env);
    let server_id = d.server_env.id();
    std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<(), String> {
            door_return(sys, &mut server, &[], &[], stack).map_err(|e| format!("{e}"))?;
            let next = door_return(sys, &mut server, b"far too long", &[], stack);
            check!(matches!(next, Err(EINTR)), "interrupted");
            Ok(())
        });
        let r = d.client.door(sys, DOOR_CALL, [d.door_fd, small, 0, 0, 0]);
        let _ = exo_illumos::door::interrupt(&*client_env, server_id);
        srv.join().map_err(|_| "server panicked".to_string())??;
        check!(r == Err(E2BIG), "results over rsize: {r:?}");
        Ok::<(), String>(())
    })
}
