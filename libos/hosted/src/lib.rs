//! The hosted backend of the exo ABI: the real exokernel, in-process.
//!
//! A [`Machine`] is the exokernel's `Kernel` running on a model machine
//! ([`machine`]): the same capability system, secure bindings, IPC and
//! scheduler as on bare metal, with simulated physical memory and page
//! tables. Each [`HostedEnv`] is one environment; it implements
//! [`exo_sys::Exo`] by putting its arguments into registers, copying
//! buffers into the environment's (simulated) memory, and calling
//! `Kernel::syscall` — so every check the kernel makes on bare metal is
//! made here too. Environments may live on different host threads: like
//! one CPU, only the kernel's current environment proceeds; the others wait
//! their turn, a call that blocks hands the CPU to the next environment,
//! and a waiter that has waited a whole slice ticks the clock, preempting
//! the current environment exactly as the timer would.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod machine;

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use exo_abi::{CapInfo, Error, call};
use exo_sys::{Exo, Message};
use exokernel::cap::{CapKey, CapSpace, CapSpaceConfig, EnvId, Level};
use exokernel::entropy::Drbg;
use exokernel::env::{ExitRecord, Kernel, KernelConfig, Next, Platform};
use hal::mmu::PAGE_SIZE;
use machine::{Model, Regs, USER_END};

/// The kernel as the hosted backend runs it.
pub type HostedKernel = Kernel<Model, Regs>;

/// Bytes of an environment's stack the backend uses to pass buffers.
const SCRATCH: u64 = 8 * PAGE_SIZE;
/// How long a waiting environment lets the current one run before it
/// ticks the clock (one time slice).
const SLICE: Duration = Duration::from_millis(10);

/// Sizes of a hosted machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Frames of simulated physical memory.
    pub frames: u64,
    /// Environments at once.
    pub max_envs: u32,
    /// Capability slots per environment.
    pub slots_per_env: u32,
    /// Frames each environment may allocate.
    pub frame_quota: u64,
    /// Copy environment console output to stderr.
    pub echo_console: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            frames: 16 * 1024,
            max_envs: 16,
            slots_per_env: 256,
            frame_quota: 4096,
            echo_console: false,
        }
    }
}

struct State {
    kernel: HostedKernel,
    /// The context the kernel last produced: the current environment's.
    regs: Regs,
}

struct Shared {
    state: Mutex<State>,
    turn: Condvar,
}

/// An exokernel running in this process.
#[derive(Clone)]
pub struct Machine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine").finish_non_exhaustive()
    }
}

impl Machine {
    /// Boots a machine. The capability key and the kernel's random-number
    /// generator are seeded from the host's randomness.
    ///
    /// # Panics
    /// If `config` describes an impossible capability space (zero sizes).
    #[must_use]
    pub fn new(config: Config) -> Self {
        let seed = host_seed();
        let drbg = Drbg::new(&seed);
        let (caps, root) = CapSpace::new(
            CapKey::from_seed(seed),
            CapSpaceConfig {
                max_envs: config.max_envs,
                slots_per_env: config.slots_per_env,
            },
        )
        .expect("valid capability-space configuration");
        let mut model = Model::new(config.frames);
        model.echo = config.echo_console;
        let kernel = Kernel::new(
            model,
            caps,
            root,
            drbg,
            KernelConfig {
                frame_quota: config.frame_quota,
                ticks_per_slice: 1,
                clearance: Level::new(8).unwrap_or(Level::HIGHEST),
            },
        );
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    kernel,
                    regs: Regs::default(),
                }),
                turn: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates an environment named `name` and returns its handle.
    ///
    /// # Errors
    /// [`Error::NoMemory`] when ids or memory run out.
    pub fn spawn(&self, name: &str) -> Result<HostedEnv, Error> {
        let mut st = self.lock();
        let id = st.kernel.spawn_empty(name).map_err(|e| match e {
            exokernel::env::SpawnError::Resource(e) => e,
            _ => Error::NoMemory,
        })?;
        if st.kernel.current().is_none() {
            let State { kernel, regs } = &mut *st;
            kernel.start(regs);
        }
        self.shared.turn.notify_all();
        Ok(HostedEnv {
            id,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Everything environments wrote to the console.
    #[must_use]
    pub fn console(&self) -> Vec<u8> {
        self.lock().kernel.platform().console.clone()
    }

    /// Environments that have ended.
    #[must_use]
    pub fn exits(&self) -> Vec<ExitRecord> {
        self.lock().kernel.exits().to_vec()
    }

    /// Nanoseconds since the machine booted.
    #[must_use]
    pub fn uptime_ns(&self) -> u64 {
        self.lock().kernel.platform().now_ns()
    }

    /// Runs `f` on the kernel (for tests and inspection).
    pub fn with_kernel<R>(&self, f: impl FnOnce(&mut HostedKernel) -> R) -> R {
        f(&mut self.lock().kernel)
    }
}

/// Host randomness for the boot seed: the OS's getrandom via std's hasher
/// keys, mixed with the clock (std exposes no direct CSPRNG).
fn host_seed() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    seed
}

/// One environment of a hosted [`Machine`]; implements [`Exo`].
#[derive(Clone)]
pub struct HostedEnv {
    id: EnvId,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HostedEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedEnv").field("id", &self.id.0).finish()
    }
}

/// Where an environment's buffers are staged: the bottom of its stack.
fn scratch_base() -> u64 {
    USER_END - PAGE_SIZE - exokernel::env::STACK_PAGES * PAGE_SIZE
}

impl HostedEnv {
    /// The environment id.
    #[must_use]
    pub fn id(&self) -> u64 {
        u64::from(self.id.0)
    }

    fn alive(st: &State, id: EnvId) -> bool {
        st.kernel.name(id).is_some()
    }

    /// Waits for this environment's turn on the CPU. `None` once it has
    /// ended.
    fn turn(&self) -> Option<MutexGuard<'_, State>> {
        let mut st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if !Self::alive(&st, self.id) {
                return None;
            }
            let current = st.kernel.current();
            if current == Some(self.id) {
                return Some(st);
            }
            if current.is_none() {
                // Nobody is running (everyone was blocked): schedule.
                let State { kernel, regs } = &mut *st;
                kernel.start(regs);
                self.shared.turn.notify_all();
                if st.kernel.current().is_some() {
                    continue;
                }
            }
            let (guard, waited) = self
                .shared
                .turn
                .wait_timeout(st, SLICE)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st = guard;
            let other = st.kernel.current().is_some_and(|c| c != self.id);
            if waited.timed_out() && other {
                // A whole slice passed: the timer fires.
                let State { kernel, regs } = &mut *st;
                kernel.tick(regs, true);
                self.shared.turn.notify_all();
            }
        }
    }

    /// Stages `bytes` at `va` in this environment's memory.
    fn stage(st: &mut State, id: EnvId, va: u64, bytes: &[u8]) {
        for (i, chunk) in bytes.chunks(PAGE_SIZE as usize).enumerate() {
            let at = va + i as u64 * PAGE_SIZE;
            if let Some(phys) = st.kernel.translate(id, at) {
                st.kernel.platform().write_phys(phys, chunk);
            }
        }
    }

    /// Reads `buf.len()` bytes at `va` of this environment's memory.
    fn fetch(st: &mut State, id: EnvId, va: u64, buf: &mut [u8]) {
        for (i, chunk) in buf.chunks_mut(PAGE_SIZE as usize).enumerate() {
            let at = va + i as u64 * PAGE_SIZE;
            if let Some(phys) = st.kernel.translate(id, at) {
                st.kernel.platform().read_phys(phys, chunk);
            }
        }
    }

    /// Issues one system call. `input` is staged in the scratch area and
    /// its address put in argument `input.0`; `output` gets the scratch
    /// area's address in argument `output.0` and is filled from it after
    /// the call. Returns the six result registers.
    fn call(
        &self,
        number: u64,
        mut args: [u64; 6],
        input: Option<(usize, &[u8])>,
        output: Option<(usize, &mut [u8])>,
    ) -> Result<[u64; 6], Error> {
        let mut st = self.turn().ok_or(Error::NoSuchEnvironment)?;
        let base = scratch_base();
        if let Some((arg, bytes)) = input {
            if bytes.len() as u64 > SCRATCH {
                return Err(Error::BadAddress);
            }
            Self::stage(&mut st, self.id, base, bytes);
            args[arg] = base;
        }
        if let Some((arg, out)) = &output {
            if out.len() as u64 > SCRATCH {
                return Err(Error::BadAddress);
            }
            args[*arg] = base;
        }
        st.regs.call(number, &args);
        let next = {
            let State { kernel, regs } = &mut *st;
            kernel.syscall(regs)
        };
        let st = if next == Next::Resume {
            st
        } else {
            // The CPU went elsewhere: wait until we run again, with our
            // results in the context the kernel then restores.
            self.shared.turn.notify_all();
            drop(st);
            self.turn().ok_or(Error::NoSuchEnvironment)?
        };
        let mut st = st;
        let results = st.regs.r;
        if let Some((_, out)) = output {
            Self::fetch(&mut st, self.id, base, out);
        }
        Ok([
            results[0], results[1], results[2], results[3], results[4], results[5],
        ])
    }

    fn simple(&self, number: u64, args: &[u64]) -> Result<u64, Error> {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        Error::from_raw(self.call(number, a, None, None)?[0])
    }

    fn unit(&self, number: u64, args: &[u64]) -> Result<(), Error> {
        self.simple(number, args).map(|_| ())
    }
}

impl Exo for HostedEnv {
    fn debug_write(&self, bytes: &[u8]) -> Result<u64, Error> {
        let len = bytes.len().min(1024);
        let r = self.call(
            call::DEBUG_WRITE,
            [0, len as u64, 0, 0, 0, 0],
            Some((0, &bytes[..len])),
            None,
        )?;
        Error::from_raw(r[0])
    }
    fn exit(&self, status: u64) {
        let _ = self.simple(call::ENV_EXIT, &[status]);
    }
    fn yield_now(&self) {
        let _ = self.simple(call::YIELD, &[]);
    }
    fn env_self(&self) -> u64 {
        self.simple(call::ENV_SELF, &[]).unwrap_or(u64::MAX)
    }
    fn clock_ns(&self) -> u64 {
        self.simple(call::CLOCK_GET, &[]).unwrap_or(0)
    }
    fn log_read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let len = buf.len().min(1024);
        let r = self.call(
            call::LOG_READ,
            [0, len as u64, offset, 0, 0, 0],
            None,
            Some((0, &mut buf[..len])),
        )?;
        Error::from_raw(r[0]).map(|n| n as usize)
    }
    fn random(&self, buf: &mut [u8]) -> Result<(), Error> {
        for chunk in buf.chunks_mut(256) {
            let len = chunk.len() as u64;
            let r = self.call(
                call::RANDOM_GET,
                [0, len, 0, 0, 0, 0],
                None,
                Some((0, chunk)),
            )?;
            Error::from_raw(r[0])?;
        }
        Ok(())
    }
    fn frame_alloc(&self, count: u64) -> Result<u64, Error> {
        self.simple(call::FRAME_ALLOC, &[count, 0])
    }
    fn frame_free(&self, handle: u64) -> Result<(), Error> {
        self.unit(call::FRAME_FREE, &[handle])
    }
    fn map(&self, handle: u64, index: u64, va: u64, access: u64) -> Result<(), Error> {
        self.unit(call::MAP, &[handle, index, va, access])
    }
    fn unmap(&self, va: u64) -> Result<(), Error> {
        self.unit(call::UNMAP, &[va])
    }
    fn protect(&self, va: u64, access: u64) -> Result<(), Error> {
        self.unit(call::PROTECT, &[va, access])
    }
    fn dma_alloc(&self, count: u64, limit: u64) -> Result<(u64, u64), Error> {
        let r = self.call(call::DMA_ALLOC, [count, limit, 0, 0, 0, 0], None, None)?;
        Error::from_raw(r[0]).map(|h| (h, r[1]))
    }
    fn cap_info(&self, handle: u64) -> Result<CapInfo, Error> {
        let mut out = [0u8; CapInfo::SIZE];
        let r = self.call(
            call::CAP_INFO,
            [handle, 0, 0, 0, 0, 0],
            None,
            Some((1, &mut out)),
        )?;
        Error::from_raw(r[0])?;
        Ok(CapInfo::from_bytes(&out))
    }
    fn cap_derive(&self, handle: u64, rights: u64, first: u64, count: u64) -> Result<u64, Error> {
        self.simple(call::CAP_DERIVE, &[handle, rights, first, count])
    }
    fn cap_transfer(&self, handle: u64, env: u64, rights: u64) -> Result<u64, Error> {
        self.simple(call::CAP_TRANSFER, &[handle, env, rights])
    }
    fn cap_revoke(&self, handle: u64) -> Result<u64, Error> {
        self.simple(call::CAP_REVOKE, &[handle])
    }
    fn cap_delete(&self, handle: u64) -> Result<(), Error> {
        self.unit(call::CAP_DELETE, &[handle])
    }
    fn cap_next(&self, index: u64) -> Result<u64, Error> {
        self.simple(call::CAP_NEXT, &[index])
    }
    fn ipc_send(&self, to: u64, message: &Message) -> Result<(), Error> {
        Error::from_raw(self.call(call::IPC_SEND, message.args(to), None, None)?[0]).map(|_| ())
    }
    fn ipc_recv(&self) -> Result<Message, Error> {
        Message::from_results(self.call(call::IPC_RECV, [0; 6], None, None)?)
    }
    fn ipc_call(&self, to: u64, message: &Message) -> Result<Message, Error> {
        Message::from_results(self.call(call::IPC_CALL, message.args(to), None, None)?)
    }
    fn ipc_reply(&self, to: u64, message: &Message) -> Result<(), Error> {
        Error::from_raw(self.call(call::IPC_REPLY, message.args(to), None, None)?[0]).map(|_| ())
    }
    fn ipc_reply_recv(&self, to: u64, message: &Message) -> Result<Message, Error> {
        Message::from_results(self.call(call::IPC_REPLY_RECV, message.args(to), None, None)?)
    }
    fn irq_bind(&self, handle: u64, line: u64, flags: u64) -> Result<(), Error> {
        self.unit(call::IRQ_BIND, &[handle, line, flags])
    }
    fn irq_unbind(&self, line: u64) -> Result<(), Error> {
        self.unit(call::IRQ_UNBIND, &[line])
    }
    fn irq_wait(&self) -> Result<u64, Error> {
        self.simple(call::IRQ_WAIT, &[])
    }
    fn irq_ack(&self, line: u64) -> Result<(), Error> {
        self.unit(call::IRQ_ACK, &[line])
    }
    fn env_create(&self, frames: u64, len: u64) -> Result<(u64, u64), Error> {
        let r = self.call(call::ENV_CREATE, [frames, len, 0, 0, 0, 0], None, None)?;
        Error::from_raw(r[0]).map(|id| (id, r[1]))
    }
    fn env_start(&self, handle: u64) -> Result<(), Error> {
        self.unit(call::ENV_START, &[handle])
    }
    fn env_destroy(&self, handle: u64) -> Result<(), Error> {
        self.unit(call::ENV_DESTROY, &[handle])
    }
    fn env_wait(&self, handle: u64) -> Result<u64, Error> {
        self.simple(call::ENV_WAIT, &[handle])
    }
    fn yield_to(&self, env: u64) -> Result<(), Error> {
        self.unit(call::YIELD_TO, &[env])
    }
    fn slice_assign(&self, cpu: u64, env: u64) -> Result<u64, Error> {
        self.simple(call::SLICE_ASSIGN, &[cpu, env])
    }

    fn fill_frames(&self, frames: u64, bytes: &[u8]) -> Result<(), Error> {
        let info = self.cap_info(frames)?;
        if info.kind != 1 || info.rights & exo_abi::rights::WRITE == 0 {
            return Err(Error::PermissionDenied);
        }
        if (bytes.len() as u64).div_ceil(PAGE_SIZE) > info.count {
            return Err(Error::InvalidArgument);
        }
        let mut st = self.turn().ok_or(Error::NoSuchEnvironment)?;
        for (i, chunk) in bytes.chunks(PAGE_SIZE as usize).enumerate() {
            let phys = (info.first + i as u64) * PAGE_SIZE;
            st.kernel.platform().write_phys(phys, chunk);
        }
        Ok(())
    }
}
