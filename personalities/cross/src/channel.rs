//! Channels: a bidirectional, message-preserving connection between two
//! processes, with descriptor delegation.
//!
//! Each end is a descriptor in its process (a libOS socket-type file), so
//! it is inherited, duplicated, closed and polled like any other; `read`
//! and `write` on it are `EINVAL` — messages go through [`send`] and
//! [`recv`]. A message crosses in its encoded (Cap'n Proto) form and is
//! decoded, and so validated, on the receiving side. Closing one end makes
//! the other's [`recv`] return `None` once the queue is drained, and its
//! [`send`] fail with `EPIPE`.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use libos::process::Pid;
use libos::system::System;
use libos::vfs::Cred;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::{FileType, Special};
use libos::{Errno, Result};
use spin::Mutex;

use crate::wire::{self, Delegation, MAX_DELEGATIONS, Message, Rights};

/// Messages queued towards one end before `send` says `EAGAIN`.
pub const QUEUE_DEPTH: usize = 64;

struct Packet {
    bytes: Vec<u8>,
    files: Vec<Arc<OpenFile>>,
}

struct Shared {
    /// `queues[i]`: messages waiting for end `i`.
    queues: [Mutex<VecDeque<Packet>>; 2],
    open: [AtomicBool; 2],
}

/// One end of a channel.
pub struct Endpoint {
    shared: Arc<Shared>,
    side: usize,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shared.open[self.side].store(false, Ordering::Release);
    }
}

impl Endpoint {
    fn peer_open(&self) -> bool {
        self.shared.open[1 - self.side].load(Ordering::Acquire)
    }
}

impl Special for Endpoint {
    fn read(&self, _offset: u64, _buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _offset: u64, _data: &[u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EINVAL)
    }
    fn poll(&self) -> (bool, bool) {
        let incoming = !self.shared.queues[self.side].lock().is_empty();
        let room = self.shared.queues[1 - self.side].lock().len() < QUEUE_DEPTH;
        (incoming || !self.peer_open(), room || !self.peer_open())
    }
    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

fn endpoint_of(file: &OpenFile) -> Result<&Endpoint> {
    file.special()
        .and_then(|s| s.as_any())
        .and_then(|a| a.downcast_ref::<Endpoint>())
        .ok_or(Errno::EINVAL)
}

fn install(sys: &System, pid: Pid, file: Arc<OpenFile>) -> Result<u64> {
    sys.procs
        .with(pid, |p| p.fds.insert(file, false))?
        .map(|fd| fd as u64)
}

/// Connects processes `a` and `b`: returns the descriptor of `a`'s end
/// and of `b`'s end.
///
/// # Errors
/// `ESRCH`, `EMFILE`.
pub fn channel(sys: &System, a: Pid, b: Pid) -> Result<(u64, u64)> {
    let shared = Arc::new(Shared {
        queues: [Mutex::new(VecDeque::new()), Mutex::new(VecDeque::new())],
        open: [AtomicBool::new(true), AtomicBool::new(true)],
    });
    let end = |side| {
        Arc::new(OpenFile::anonymous(
            Arc::clone(&sys.vfs),
            Arc::new(Endpoint {
                shared: Arc::clone(&shared),
                side,
            }),
            OpenFlags::READ_WRITE,
            FileType::Socket,
        ))
    };
    let fa = install(sys, a, end(0))?;
    match install(sys, b, end(1)) {
        Ok(fb) => Ok((fa, fb)),
        Err(e) => {
            let _ = sys.procs.with(a, |p| p.fds.close(fa as i64));
            Err(e)
        }
    }
}

/// The file a delegation hands over: the sender's own open file when the
/// rights are its access (shared offset, as descriptor passing does), a
/// new description of the same node when they are narrower.
fn delegated(sys: &System, file: &Arc<OpenFile>, rights: Rights) -> Result<Arc<OpenFile>> {
    let flags = file.flags();
    let held = Rights {
        read: flags.read,
        write: flags.write,
    };
    if !rights.within(held) || rights == Rights::default() {
        return Err(Errno::EPERM);
    }
    if rights == held {
        return Ok(Arc::clone(file));
    }
    let node = file.node().ok_or(Errno::EINVAL)?;
    sys.vfs.open_node(
        &Cred::root(),
        node,
        OpenFlags {
            read: rights.read,
            write: rights.write,
            ..OpenFlags::READ
        },
    )
}

/// Sends `message` from process `pid` through its channel end `fd`,
/// delegating each `(descriptor, rights)` of `delegate` (the message's
/// `capabilities` are filled in here).
///
/// # Errors
/// `EBADF` (a descriptor), `EINVAL` (not a channel, too many
/// delegations, a narrower right on a file with no node), `EPERM` (a right
/// the sender does not hold), `EPIPE` (the other end is closed),
/// `EAGAIN` (its queue is full).
pub fn send(
    sys: &System,
    pid: Pid,
    fd: u64,
    message: &Message,
    delegate: &[(u64, Rights)],
) -> Result<()> {
    if delegate.len() > MAX_DELEGATIONS {
        return Err(Errno::EINVAL);
    }
    let ch = sys.procs.with(pid, |p| p.fds.file(fd as i64))??;
    let end = endpoint_of(&ch)?;
    let mut files = Vec::new();
    let mut capabilities = Vec::new();
    for (slot, &(dfd, rights)) in delegate.iter().enumerate() {
        let f = sys.procs.with(pid, |p| p.fds.file(dfd as i64))??;
        files.push(delegated(sys, &f, rights)?);
        capabilities.push(Delegation {
            slot: slot as u32,
            rights,
        });
    }
    let bytes = wire::encode(&Message {
        capabilities,
        ..message.clone()
    });
    if bytes.len() > wire::MAX_MESSAGE {
        return Err(Errno::EINVAL);
    }
    if !end.peer_open() {
        return Err(Errno::EPIPE);
    }
    let mut q = end.shared.queues[1 - end.side].lock();
    if q.len() >= QUEUE_DEPTH {
        return Err(Errno::EAGAIN);
    }
    q.push_back(Packet { bytes, files });
    Ok(())
}

/// A received message and the descriptors its delegations became in the
/// receiver (in the order of `message.capabilities`).
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    /// The message.
    pub message: Message,
    /// New descriptors in the receiving process.
    pub fds: Vec<u64>,
}

/// Receives the next message on process `pid`'s channel end `fd`,
/// waiting for one unless `nonblock`; `None` once the other end is closed
/// and nothing is left.
///
/// # Errors
/// `EBADF`, `EINVAL` (not a channel, or a malformed message, which is
/// dropped), `EAGAIN` (`nonblock` and nothing queued), `EMFILE`.
pub fn recv(sys: &System, pid: Pid, fd: u64, nonblock: bool) -> Result<Option<Received>> {
    let ch = sys.procs.with(pid, |p| p.fds.file(fd as i64))??;
    let end = endpoint_of(&ch)?;
    let packet = libos::wait::until(|| {
        if let Some(p) = end.shared.queues[end.side].lock().pop_front() {
            return Some(Ok(Some(p)));
        }
        if !end.peer_open() {
            return Some(Ok(None));
        }
        nonblock.then_some(Err(Errno::EAGAIN))
    })?;
    let Some(packet) = packet else {
        return Ok(None);
    };
    let message = wire::decode(&packet.bytes)?;
    if message.capabilities.len() != packet.files.len() {
        return Err(Errno::EINVAL);
    }
    let mut fds = Vec::new();
    for d in &message.capabilities {
        let file = packet.files.get(d.slot as usize).ok_or(Errno::EINVAL)?;
        match install(sys, pid, Arc::clone(file)) {
            Ok(n) => fds.push(n),
            Err(e) => {
                for n in fds {
                    let _ = sys.procs.with(pid, |p| p.fds.close(n as i64));
                }
                return Err(e);
            }
        }
    }
    Ok(Some(Received { message, fds }))
}
