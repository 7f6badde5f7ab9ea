//! Pipes: a bounded byte queue with a read end and a write end.
//!
//! POSIX semantics: reads block until data arrives or every writer has
//! gone (then return 0); writes of at most [`PIPE_BUF`] bytes are atomic
//! (all or nothing, waiting for room); a write with no reader left fails
//! with `EPIPE` (the process layer turns that into `SIGPIPE`);
//! `O_NONBLOCK` turns every wait into `EAGAIN`.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use spin::Mutex;

use crate::errno::{Errno, Result};
use crate::vfs::node::Special;
use crate::wait;

/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// Capacity of a pipe.
pub const PIPE_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Default)]
struct State {
    data: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// The shared queue.
#[derive(Debug, Default)]
pub struct Pipe {
    state: Mutex<State>,
}

/// The read end.
#[derive(Debug)]
pub struct ReadEnd(Arc<Pipe>);

/// The write end.
#[derive(Debug)]
pub struct WriteEnd(Arc<Pipe>);

/// A new pipe's two ends.
#[must_use]
pub fn pipe() -> (Arc<ReadEnd>, Arc<WriteEnd>) {
    let p = Arc::new(Pipe {
        state: Mutex::new(State {
            data: VecDeque::new(),
            readers: 1,
            writers: 1,
        }),
    });
    (Arc::new(ReadEnd(Arc::clone(&p))), Arc::new(WriteEnd(p)))
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.0.state.lock().readers -= 1;
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.0.state.lock().writers -= 1;
    }
}

impl Special for ReadEnd {
    fn read(&self, _offset: u64, buf: &mut [u8], nonblock: bool) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut take = |st: &mut State| {
            let n = buf.len().min(st.data.len());
            for (dst, src) in buf.iter_mut().zip(st.data.drain(..n)) {
                *dst = src;
            }
            n
        };
        loop {
            {
                let mut st = self.0.state.lock();
                if !st.data.is_empty() {
                    return Ok(take(&mut st));
                }
                if st.writers == 0 {
                    return Ok(0);
                }
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
            }
            wait::pause();
        }
    }

    fn write(&self, _offset: u64, _data: &[u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EBADF)
    }

    fn poll(&self) -> (bool, bool) {
        let st = self.0.state.lock();
        (!st.data.is_empty() || st.writers == 0, false)
    }

    fn readable_bytes(&self) -> Option<usize> {
        Some(self.0.state.lock().data.len())
    }
}

impl Special for WriteEnd {
    fn read(&self, _offset: u64, _buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EBADF)
    }

    fn write(&self, _offset: u64, data: &[u8], nonblock: bool) -> Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let atomic = data.len() <= PIPE_BUF;
        let mut written = 0;
        loop {
            {
                let mut st = self.0.state.lock();
                if st.readers == 0 {
                    return if written > 0 {
                        Ok(written)
                    } else {
                        Err(Errno::EPIPE)
                    };
                }
                let room = PIPE_CAPACITY - st.data.len();
                let rest = &data[written..];
                if atomic {
                    if room >= rest.len() {
                        st.data.extend(rest);
                        return Ok(data.len());
                    }
                } else if room > 0 {
                    let n = room.min(rest.len());
                    st.data.extend(&rest[..n]);
                    written += n;
                    if written == data.len() {
                        return Ok(written);
                    }
                }
                if nonblock {
                    return if written > 0 {
                        Ok(written)
                    } else {
                        Err(Errno::EAGAIN)
                    };
                }
            }
            wait::pause();
        }
    }

    fn poll(&self) -> (bool, bool) {
        let st = self.0.state.lock();
        (
            false,
            st.readers == 0 || PIPE_CAPACITY - st.data.len() >= PIPE_BUF,
        )
    }

    fn writable_bytes(&self) -> Option<usize> {
        let st = self.0.state.lock();
        Some(if st.readers == 0 {
            0
        } else {
            PIPE_CAPACITY - st.data.len()
        })
    }
}
