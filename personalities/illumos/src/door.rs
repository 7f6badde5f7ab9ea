//! Doors over exokernel IPC.
//!
//! A door is an illumos procedure-call channel into a server process. Here
//! the control transfer is the exokernel's: a client's `door_call` is an
//! `IPC_CALL` from the client's environment to the server's, which blocks
//! the client in the kernel until the server's `door_return` answers with
//! `IPC_REPLY_RECV` (replying to the caller and waiting for the next call
//! in one exo call). What crosses the kernel is a four-word header:
//!
//! ```text
//!   call:   [TAG_CALL,   door id, call id, 0]   client env → server env
//!   reply:  [TAG_RESULT, call id, 0,       0]   server env → client env
//! ```
//!
//! The argument and result bytes and the passed descriptors stay on the
//! libOS side, in a call slot keyed by the call id: a hosted environment
//! cannot read another's memory, and descriptors are libOS objects (open
//! file descriptions), not kernel capabilities — a passed descriptor is the
//! same `OpenFile` installed in the receiver's table. The kernel supplies
//! what a door needs from it: blocking, wake-up, the direct switch to the
//! server, and the sender's identity (the replier is whoever the kernel
//! says called).
//!
//! Each process that uses doors must be bound to the exo environment its
//! thread runs in ([`attach`]); the bindings, the doors and the call slots
//! are kept in one registry for all libOS instances of the program, keyed
//! so that instances never see each other's processes.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The exo ABI the door layer speaks (re-exported for embedders).
pub use exo_sys::{Exo, Message};
use libos::process::{Pid, Processes};
use libos::system::System;
use libos::vfs::file::OpenFile;
use libos::vfs::node::Special;
use libos::{Errno, Result};
use spin::Mutex;

/// First header word of a door call (`"DOORCALL"`).
pub const TAG_CALL: u64 = 0x444f_4f52_4341_4c4c;
/// First header word of a door reply (`"DOORRSLT"`).
pub const TAG_RESULT: u64 = 0x444f_4f52_5253_4c54;

/// First header word of an interrupt (`"DOORINTR"`): any environment may
/// send it to a server environment to end its waiting `door_return` with
/// `EINTR`, as a signal would on illumos.
pub const TAG_INTERRUPT: u64 = 0x444f_4f52_494e_5452;

/// An environment a process runs in, as the door layer uses it.
pub type Env = Arc<dyn Exo + Send + Sync>;

/// One door.
#[derive(Debug)]
pub struct Door {
    /// Unique id (`di_uniquifier`).
    pub id: u64,
    /// The server process.
    pub server: Pid,
    /// The server's exo environment.
    pub server_env: u64,
    /// Server procedure address (`di_proc`).
    pub procedure: u64,
    /// Cookie (`di_data`).
    pub cookie: u64,
    /// `door_create` attributes.
    pub attributes: u32,
    revoked: AtomicBool,
    system: usize,
}

impl Door {
    /// Whether the door was revoked.
    #[must_use]
    pub fn revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Revokes it: later calls fail, calls already made complete.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }
}

/// The special file behind a door descriptor.
#[derive(Debug)]
pub struct DoorFile {
    door: Arc<Door>,
}

impl DoorFile {
    /// The door.
    #[must_use]
    pub fn door(&self) -> &Arc<Door> {
        &self.door
    }
}

impl Special for DoorFile {
    fn read(&self, _offset: u64, _buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EBADF)
    }
    fn write(&self, _offset: u64, _data: &[u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EBADF)
    }
}

/// What one call carries one way: bytes and open files.
#[derive(Debug, Default)]
pub struct Payload {
    /// The data.
    pub data: Vec<u8>,
    /// Passed descriptors (their open file descriptions).
    pub files: Vec<Arc<OpenFile>>,
}

struct Slot {
    door: u64,
    args: Option<Payload>,
    results: Option<Result<Payload>>,
}

/// The call a server thread is answering.
#[derive(Clone, Copy, Debug)]
struct Serving {
    client_env: u64,
    call: u64,
    door: u64,
}

struct Binding {
    procs: Weak<Processes>,
    pid: Pid,
    env: Env,
}

struct Registry {
    envs: Vec<Binding>,
    files: BTreeMap<usize, Weak<DoorFile>>,
    doors: BTreeMap<u64, Weak<Door>>,
    slots: BTreeMap<u64, Slot>,
    serving: BTreeMap<(usize, Pid), Serving>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    envs: Vec::new(),
    files: BTreeMap::new(),
    doors: BTreeMap::new(),
    slots: BTreeMap::new(),
    serving: BTreeMap::new(),
});
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn system_key(sys: &System) -> usize {
    Arc::as_ptr(&sys.procs) as usize
}

/// Binds process `pid` of `sys` to the environment its thread runs in, so
/// its door calls go through that environment's IPC.
pub fn attach(sys: &System, pid: Pid, env: Env) {
    let mut r = REGISTRY.lock();
    r.envs.retain(|b| b.procs.strong_count() > 0);
    r.files.retain(|_, f| f.strong_count() > 0);
    r.doors.retain(|_, d| d.strong_count() > 0);
    let key = system_key(sys);
    r.envs
        .retain(|b| !(b.procs.as_ptr() as usize == key && b.pid == pid));
    r.envs.push(Binding {
        procs: Arc::downgrade(&sys.procs),
        pid,
        env,
    });
}

/// Removes `pid`'s binding.
pub fn detach(sys: &System, pid: Pid) {
    let key = system_key(sys);
    REGISTRY
        .lock()
        .envs
        .retain(|b| !(b.procs.as_ptr() as usize == key && b.pid == pid));
}

/// The environment `pid` runs in.
///
/// # Errors
/// `EINVAL` if it was never attached: it cannot take part in exo IPC.
pub fn env_of(sys: &System, pid: Pid) -> Result<Env> {
    let key = system_key(sys);
    REGISTRY
        .lock()
        .envs
        .iter()
        .find(|b| b.procs.as_ptr() as usize == key && b.pid == pid)
        .map(|b| Arc::clone(&b.env))
        .ok_or(Errno::EINVAL)
}

/// Creates a door served by `pid` and returns its open file.
///
/// # Errors
/// `EINVAL` if `pid` has no environment.
pub fn create(
    sys: &System,
    pid: Pid,
    procedure: u64,
    cookie: u64,
    attributes: u32,
) -> Result<(Arc<Door>, Arc<DoorFile>)> {
    let env = env_of(sys, pid)?;
    let door = Arc::new(Door {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        server: pid,
        server_env: env.env_self(),
        procedure,
        cookie,
        attributes,
        revoked: AtomicBool::new(false),
        system: system_key(sys),
    });
    let file = Arc::new(DoorFile {
        door: Arc::clone(&door),
    });
    let mut r = REGISTRY.lock();
    r.files
        .insert(Arc::as_ptr(&file) as usize, Arc::downgrade(&file));
    r.doors.insert(door.id, Arc::downgrade(&door));
    Ok((door, file))
}

/// The door behind an open file, if it is a door.
#[must_use]
pub fn door_of(file: &OpenFile) -> Option<Arc<Door>> {
    let special = file.special()?;
    let addr = Arc::as_ptr(special).cast::<u8>() as usize;
    let r = REGISTRY.lock();
    let f = r.files.get(&addr)?.upgrade()?;
    Some(Arc::clone(&f.door))
}

/// The door `pid`'s thread is currently serving (for `DOOR_QUERY`).
#[must_use]
pub fn serving_door(sys: &System, pid: Pid) -> Option<Arc<Door>> {
    let r = REGISTRY.lock();
    let s = r.serving.get(&(system_key(sys), pid))?;
    r.doors.get(&s.door)?.upgrade()
}

fn kernel(e: exo_sys::Error) -> Errno {
    match e {
        // The server environment is gone: the door is dead.
        exo_sys::Error::NoSuchEnvironment => Errno::EBADF,
        other => Errno::from(other),
    }
}

/// `door_call` from `pid`: sends `args` through `door` and blocks until
/// the server returns.
///
/// # Errors
/// `EBADF` for a revoked or dead door, `EINVAL` without an environment,
/// `EDEADLK` when the caller is the server's own environment, or the error
/// the server side reported.
pub fn call(sys: &System, pid: Pid, door: &Door, args: Payload) -> Result<Payload> {
    if door.revoked() {
        return Err(Errno::EBADF);
    }
    let env = env_of(sys, pid)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    REGISTRY.lock().slots.insert(
        id,
        Slot {
            door: door.id,
            args: Some(args),
            results: None,
        },
    );
    let sent = env.ipc_call(door.server_env, &Message::new([TAG_CALL, door.id, id, 0]));
    let slot = REGISTRY.lock().slots.remove(&id);
    let reply = sent.map_err(kernel)?;
    if reply.words[0] != TAG_RESULT || reply.words[1] != id || reply.from != door.server_env {
        return Err(Errno::EINVAL);
    }
    slot.and_then(|s| s.results).unwrap_or(Err(Errno::EBADF))
}

/// A call delivered to a server by [`serve`].
#[derive(Debug)]
pub struct Incoming {
    /// The door called.
    pub door: Arc<Door>,
    /// What the client sent.
    pub args: Payload,
}

/// Server side of `door_return` for `pid`: hands `results` to the call
/// being served (if any), then blocks for the next call to one of `pid`'s
/// doors. `accept` vets each arriving call before it is delivered (and may
/// fail it, answering the client with its error and waiting on).
///
/// # Errors
/// `EINVAL` without an environment, or the kernel's IPC error.
pub fn serve(
    sys: &System,
    pid: Pid,
    results: Result<Payload>,
    mut accept: impl FnMut(&Incoming) -> Result<()>,
) -> Result<Incoming> {
    let env = env_of(sys, pid)?;
    let key = (system_key(sys), pid);
    let pending = REGISTRY.lock().serving.remove(&key);
    let mut received = match pending {
        Some(s) => {
            finish(s.call, results);
            match env.ipc_reply_recv(s.client_env, &reply(s.call)) {
                Ok(m) => m,
                // The client went away: wait for the next one.
                Err(_) => env.ipc_recv().map_err(kernel)?,
            }
        }
        None => env.ipc_recv().map_err(kernel)?,
    };
    loop {
        if received.words[0] == TAG_INTERRUPT {
            return Err(Errno::EINTR);
        }
        match take_call(key.0, pid, &received) {
            Ok(incoming) => match accept(&incoming) {
                Ok(()) => {
                    REGISTRY.lock().serving.insert(
                        key,
                        Serving {
                            client_env: received.from,
                            call: received.words[2],
                            door: incoming.door.id,
                        },
                    );
                    return Ok(incoming);
                }
                Err(e) => finish(received.words[2], Err(e)),
            },
            Err(e) => finish(received.words[2], Err(e)),
        }
        received = env
            .ipc_reply_recv(received.from, &reply(received.words[2]))
            .map_err(kernel)?;
    }
}

/// Interrupts the `door_return` a server thread is blocked in (it fails
/// with `EINTR`), sending from environment `from`.
///
/// # Errors
/// The kernel's IPC error (`ESRCH` for a gone environment, `EDEADLK` for
/// oneself).
pub fn interrupt(from: &dyn Exo, server_env: u64) -> Result<()> {
    from.ipc_send(server_env, &Message::new([TAG_INTERRUPT, 0, 0, 0]))
        .map_err(Errno::from)
}

fn reply(call: u64) -> Message {
    Message::new([TAG_RESULT, call, 0, 0])
}

fn finish(call: u64, results: Result<Payload>) {
    if let Some(slot) = REGISTRY.lock().slots.get_mut(&call) {
        slot.results = Some(results);
    }
}

fn take_call(system: usize, pid: Pid, m: &Message) -> Result<Incoming> {
    if m.words[0] != TAG_CALL {
        return Err(Errno::EINVAL);
    }
    let mut r = REGISTRY.lock();
    let door = r
        .doors
        .get(&m.words[1])
        .and_then(Weak::upgrade)
        .ok_or(Errno::EBADF)?;
    if door.system != system || door.server != pid {
        return Err(Errno::EBADF);
    }
    let slot = r.slots.get_mut(&m.words[2]).ok_or(Errno::EINVAL)?;
    if slot.door != door.id {
        return Err(Errno::EINVAL);
    }
    let args = slot.args.take().ok_or(Errno::EINVAL)?;
    Ok(Incoming { door, args })
}
