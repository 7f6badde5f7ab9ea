//! What both boot paths do with environments: start one per boot module
//! with the device capabilities its manifest names, run the trap handlers'
//! common half ([`Runner`]), and sum up the exits when the last one has
//! ended.

use hal::{MemoryRegion, UserContext};
use log::{info, warn};

use super::{ExitReason, Fault, Kernel, Next, Platform};
use crate::manifest;

/// One boot module: its line (`program manifest…`, the program possibly a
/// path) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    /// The module's command line.
    pub line: &'a str,
    /// The ELF image.
    pub image: &'a [u8],
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// Creates one environment per module and grants it the resources its
    /// manifest names, unless they are RAM (`memory`) or the kernel's own
    /// devices (`reserved`). A module with a bad manifest or image is
    /// reported and skipped. Returns how many started.
    pub fn spawn_boot_modules<'a>(
        &mut self,
        modules: impl IntoIterator<Item = BootImage<'a>>,
        memory: &[MemoryRegion],
        reserved: &[(u64, u64)],
    ) -> usize {
        let mut started = 0;
        for module in modules {
            let (path, words) = module.line.split_once(' ').unwrap_or((module.line, ""));
            let name = path.rsplit(['/', '\\']).next().unwrap_or("module");
            let grants = match manifest::parse(words) {
                Ok(g) => g,
                Err(e) => {
                    warn!("module '{name}': {e}; not started");
                    continue;
                }
            };
            let env = match self.spawn(name, module.image) {
                Ok(env) => env,
                Err(e) => {
                    warn!("module '{name}': {e}");
                    continue;
                }
            };
            info!(
                "env {} ({name}): spawned from a {} KiB module",
                env.0,
                module.image.len() / 1024
            );
            for grant in grants {
                let granted = manifest::capability_for(grant, memory, reserved)
                    .map_err(|e| alloc::format!("{e}"))
                    .and_then(|cap| self.grant(env, cap).map_err(|e| alloc::format!("{e}")));
                match granted {
                    Ok(_) => info!("env {}: granted {grant}", env.0),
                    Err(e) => warn!("env {}: {grant} not granted: {e}", env.0),
                }
            }
            started += 1;
        }
        started
    }

    /// Logs every exit record and the closing line the boot tests look
    /// for; returns how many environments did not exit with status 0.
    pub fn report_exits(&self) -> usize {
        for record in self.exits() {
            info!("{record}");
        }
        let failed = self
            .exits()
            .iter()
            .filter(|r| !matches!(r.reason, ExitReason::Exited(0)))
            .count();
        info!("all environments have ended ({failed} did not exit with status 0)");
        failed
    }
}

/// What the [`Runner`] needs from the CPU around the kernel.
pub trait Cpu {
    /// Lets interrupts in, waits for one, and masks them again.
    fn wait_for_interrupt();
    /// Masks interrupts.
    fn mask_interrupts();
    /// Switches to the kernel's own address space.
    fn activate_kernel_space();
    /// Ends the run with success (the command line said `exit`).
    fn power_off() -> !;
    /// Idles forever, interrupts on.
    fn idle_forever() -> !;
}

/// The kernel as a boot path's trap handlers drive it: the one instance
/// behind a lock, and the handlers' common half — enter the kernel, then
/// act on its [`Next`]: resume the (possibly switched) context, idle until
/// something can run, or report the exits and end.
///
/// Every entry from user mode runs with interrupts masked on one CPU, so
/// the lock is never contended; it documents the single owner and would
/// serialise CPUs once SMP arrives. The interrupt paths only `try_lock`,
/// so an interrupt taken while the kernel itself idles never deadlocks.
pub struct Runner<P: Platform, C: UserContext, M: Cpu> {
    kernel: spin::Mutex<Option<Kernel<P, C>>>,
    exit_when_done: core::sync::atomic::AtomicBool,
    cpu: core::marker::PhantomData<fn() -> M>,
}

impl<P: Platform, C: UserContext, M: Cpu> core::fmt::Debug for Runner<P, C, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runner")
            .field("kernel", &self.kernel.try_lock().map(|k| k.is_some()))
            .finish_non_exhaustive()
    }
}

impl<P: Platform, C: UserContext, M: Cpu> Default for Runner<P, C, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform, C: UserContext, M: Cpu> Runner<P, C, M> {
    /// No kernel yet.
    pub const fn new() -> Self {
        Self {
            kernel: spin::Mutex::new(None),
            exit_when_done: core::sync::atomic::AtomicBool::new(false),
            cpu: core::marker::PhantomData,
        }
    }

    /// Installs the kernel; `exit_when_done` powers off after the last
    /// environment ends.
    pub fn install(&self, kernel: Kernel<P, C>, exit_when_done: bool) {
        *self.kernel.lock() = Some(kernel);
        self.exit_when_done
            .store(exit_when_done, core::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f` on the kernel, if installed.
    pub fn with<R>(&self, f: impl FnOnce(&mut Kernel<P, C>) -> R) -> Option<R> {
        self.kernel.lock().as_mut().map(f)
    }

    /// Puts the first runnable environment's context into `frame` (idling
    /// until there is one), for the boot path's first entry to user mode.
    pub fn start(&self, frame: &mut C) {
        M::mask_interrupts();
        let next = self.with(|k| k.start(frame)).unwrap_or(Next::Finished);
        self.follow(next, frame);
    }

    /// A system call from user mode.
    pub fn syscall(&self, frame: &mut C) {
        let next = self.with(|k| k.syscall(frame)).unwrap_or(Next::Resume);
        self.follow(next, frame);
    }

    /// An exception user code raised.
    pub fn fault(&self, frame: &mut C, fault: Fault) {
        let next = self
            .with(|k| {
                let env = k.current();
                let next = k.fault(frame, fault);
                if let Some(record) = k.exits().last().filter(|r| Some(r.env) == env) {
                    warn!("{record}");
                }
                next
            })
            .unwrap_or(Next::Finished);
        self.follow(next, frame);
    }

    /// A timer tick (the preemption point).
    pub fn tick(&self, frame: &mut C, from_user: bool) {
        let Some(mut kernel) = self.kernel.try_lock() else {
            return;
        };
        let next = kernel
            .as_mut()
            .map_or(Next::Resume, |k| k.tick(frame, from_user));
        drop(kernel);
        if from_user {
            self.follow(next, frame);
        }
    }

    /// Interrupt line `line` fired (already masked at the controller).
    pub fn irq(&self, line: u32, frame: &mut C, from_user: bool) {
        if let Some(mut kernel) = self.kernel.try_lock()
            && let Some(k) = kernel.as_mut()
        {
            k.irq(line, frame, from_user);
        }
    }

    fn follow(&self, next: Next, frame: &mut C) {
        match next {
            Next::Resume | Next::Switched => {}
            Next::Idle => loop {
                // Nothing runnable: wait for an interrupt with a
                // kernel-mode context, then ask again.
                M::wait_for_interrupt();
                match self.with(|k| k.start(frame)).unwrap_or(Next::Finished) {
                    Next::Idle => {}
                    Next::Finished => self.finish(),
                    Next::Resume | Next::Switched => return,
                }
            },
            Next::Finished => self.finish(),
        }
    }

    fn finish(&self) -> ! {
        M::activate_kernel_space();
        self.with(|k| k.report_exits());
        if self
            .exit_when_done
            .load(core::sync::atomic::Ordering::Relaxed)
        {
            M::power_off();
        }
        M::idle_forever()
    }
}
