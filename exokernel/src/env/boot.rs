//! What both boot paths do with environments: start one per boot module
//! with the device capabilities its manifest names, and sum up the exits
//! when the last one has ended.

use hal::{MemoryRegion, UserContext};
use log::{info, warn};

use super::{ExitReason, Kernel, Platform};
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
