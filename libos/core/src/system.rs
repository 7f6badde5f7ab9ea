//! Assembling a libOS instance: the standard namespace and the process
//! table over one [`Exo`](exo_sys::Exo) backend.
//!
//! ```text
//! /        tmpfs          /dev   devfs (kernel RNG, console)
//! /proc    procfs         /sys   sysfs (hostname, devices)
//! /tmp     tmpfs (1777)
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::errno::Result;
use crate::fs::devfs::{Devfs, KernelConsole, Terminal};
use crate::fs::procfs::{CurrentPid, Procfs, SystemInfo};
use crate::fs::{sysfs, tmpfs::Tmpfs};
use crate::process::Processes;
use crate::time::{Clock, KernelClock};
use crate::vfs::node::Owner;
use crate::vfs::{Cred, Vfs};

/// Options for [`System::boot`].
pub struct Options {
    /// Bytes the root tmpfs may hold.
    pub root_bytes: u64,
    /// Hostname for `/sys/kernel/hostname`.
    pub hostname: Vec<u8>,
    /// Wall-clock time at boot, ns since the epoch.
    pub boot_epoch_ns: u64,
    /// The terminal of `/dev/console` (default: the kernel console).
    pub terminal: Option<Arc<dyn Terminal>>,
    /// Who `/proc/self` is (default: init).
    pub current: Option<CurrentPid>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            root_bytes: 64 << 20,
            hostname: b"exo".to_vec(),
            boot_epoch_ns: 0,
            terminal: None,
            current: None,
        }
    }
}

impl core::fmt::Debug for Options {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Options")
            .field("root_bytes", &self.root_bytes)
            .finish_non_exhaustive()
    }
}

/// A running libOS.
pub struct System {
    /// The namespace.
    pub vfs: Arc<Vfs>,
    /// The processes.
    pub procs: Arc<Processes>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl core::fmt::Debug for System {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("System").finish_non_exhaustive()
    }
}

impl System {
    /// Boots a libOS over `exo`, with platform facts from `info`.
    ///
    /// # Errors
    /// Only if building the namespace fails (out of memory).
    pub fn boot<E>(exo: Arc<E>, info: Arc<dyn SystemInfo>, options: Options) -> Result<Self>
    where
        E: exo_sys::Exo + Send + Sync + 'static,
    {
        let clock: Arc<dyn Clock> = Arc::new(KernelClock::new(exo.clone(), options.boot_epoch_ns));
        let root = Arc::new(Tmpfs::new(
            1,
            options.root_bytes,
            Owner {
                uid: 0,
                gid: 0,
                perm: 0o755,
            },
            clock.clone(),
        ));
        let vfs = Vfs::new(root, "rootfs");
        let cred = Cred::root();
        let top = vfs.root();
        for (dir, perm) in [
            (&b"/dev"[..], 0o755),
            (b"/proc", 0o555),
            (b"/sys", 0o555),
            (b"/tmp", 0o777),
        ] {
            vfs.mkdir(&cred, top, dir, perm)?;
        }
        vfs.chmod(&cred, top, b"/tmp", 0o1777)?;
        let terminal = options
            .terminal
            .unwrap_or_else(|| Arc::new(KernelConsole(exo.clone())));
        vfs.mount(
            &cred,
            top,
            b"/dev",
            Arc::new(Devfs::new(2, exo, terminal, clock.now())),
            "devtmpfs",
            false,
        )?;
        let procs = Processes::new(Arc::clone(&vfs), cred.clone(), clock.clone());
        let current = options
            .current
            .unwrap_or_else(|| Arc::new(|| crate::process::INIT));
        vfs.mount(
            &cred,
            top,
            b"/proc",
            Arc::new(Procfs::new(
                3,
                Arc::clone(&procs),
                Arc::clone(&info),
                current,
            )),
            "proc",
            false,
        )?;
        let sys = sysfs::build(4, &*info, &options.hostname, clock.clone())?;
        vfs.mount(&cred, top, b"/sys", sys, "sysfs", false)?;
        vfs.mount(
            &cred,
            top,
            b"/tmp",
            Arc::new(Tmpfs::new(
                5,
                options.root_bytes,
                Owner {
                    uid: 0,
                    gid: 0,
                    perm: 0o1777,
                },
                clock.clone(),
            )),
            "tmpfs",
            false,
        )?;
        Ok(Self { vfs, procs, clock })
    }
}
