//! The readiness core personalities build `poll`, `select`, `epoll` and
//! `kqueue` on.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::time::Clock;
use crate::vfs::file::OpenFile;
use crate::wait;

/// Events of interest / reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Readable (`POLLIN`).
    pub read: bool,
    /// Writable (`POLLOUT`).
    pub write: bool,
}

/// The current readiness of `file`: regular files and directories are
/// always ready; devices and pipes say for themselves.
#[must_use]
pub fn readiness(file: &OpenFile) -> Events {
    match file.special() {
        Some(s) => {
            let (read, write) = s.poll();
            let flags = file.flags();
            Events {
                read: read && flags.read,
                write: write && flags.write,
            }
        }
        None => Events {
            read: file.flags().read,
            write: file.flags().write,
        },
    }
}

/// Waits until one of `files` is ready for what was asked, or `timeout_ns`
/// passes (`None`: forever; `Some(0)`: just look). Returns the ready
/// events per file.
pub fn poll(
    files: &[(Arc<OpenFile>, Events)],
    timeout_ns: Option<u64>,
    clock: &dyn Clock,
) -> Vec<Events> {
    let deadline = timeout_ns.map(|t| clock.uptime_ns().saturating_add(t));
    loop {
        let ready: Vec<Events> = files
            .iter()
            .map(|(f, want)| {
                let r = readiness(f);
                Events {
                    read: r.read && want.read,
                    write: r.write && want.write,
                }
            })
            .collect();
        if ready.iter().any(|e| e.read || e.write)
            || deadline.is_some_and(|d| clock.uptime_ns() >= d)
        {
            return ready;
        }
        wait::pause();
    }
}
