//! Attach points: typed hooks that drivers fire, and the programs attached
//! to them.
//!
//! In the manner of Tock's hardware interface layer, each kind of event a
//! driver can report is a [`Hook`]: a typed context (the bytes a program
//! reads through `r1`, with a documented little-endian layout), a
//! [`ContextLayout`] the verifier checks programs against when they are
//! attached, and a rule for what the programs' return values mean (ignored,
//! a veto, a new value). An [`AttachPoint`] holds the programs attached to
//! one hook, in attach order; [`AttachPoint::attach`] verifies a program
//! against the hook's context and returns an [`AttachHandle`], and
//! [`AttachPoint::detach`] removes it (detaching twice is an error). A
//! driver calls [`AttachPoint::run`] with the event: every attached program
//! runs on its own copy of the encoded context, and the hook folds the
//! return values into an outcome.
//!
//! Running allocates nothing: the context is encoded into a buffer on the
//! stack and the programs run on the caller's [`Vm`], so drivers in the
//! `embedded` profile may fire hooks freely once programs are attached.
//!
//! # Hooks and context layouts
//!
//! All fields are little-endian; offsets in bytes.
//!
//! | Hook | Size | Layout | Return value |
//! |------|------|--------|--------------|
//! | [`TimerTick`] | 16 | `u64 now_ns @0`, `u64 tick @8` | ignored |
//! | [`SyscallEntry`] | 64 | `u64 nr @0`, `u64 args[6] @8`, `i64 ret @56` (0) | nonzero denies the call (the value is the error code); later programs do not run |
//! | [`SyscallExit`] | 64 | as entry, `ret` is the result | ignored |
//! | [`GpioEdge`] | 16 | `u32 pin @0`, `u32 level @4`, `u64 timestamp_ns @8` | 0 suppresses the edge (debounce); later programs do not run |
//! | [`PwmUpdate`] | 16 | `u32 channel @0`, `u32 duty @4`, `u32 period @8`, `u32 reserved @12` | the duty to apply, clamped to `period`; the next program sees it |
//! | [`ImuSample`] | 32 | `u64 timestamp_ns @0`, `i32 ax, ay, az @8..20` (milli-g), `i32 gx, gy, gz @20..32` (milli-degrees/s) | ignored |
//! | [`Tracepoint`] | 56 | `u64 id @0`, `u64 data[6] @8` | ignored |
//!
//! A program that fails at run time (memory fault, budget, helper error) is
//! counted in its [`AttachStats`]; for [`SyscallEntry`] a failure denies
//! the call (fail closed), elsewhere it is ignored.
//!
//! The simulated devices in [`sim`] drive these hooks for tests and for the
//! command-line tool.
//!
//! # Example
//!
//! ```
//! use exo_bpf::hooks::{AttachError, AttachPoint, PwmUpdate};
//! use exo_bpf::isa::{AluOp, Insn, Operand, Reg, Size, Width, assemble};
//! use exo_bpf::{Helpers, MapSet, Vm};
//!
//! // r0 = ctx->duty (u32 at offset 4); if r0 > 600 then r0 = 600; exit
//! let clamp = assemble(&[
//!     Insn::Load { size: Size::W, dst: Reg::R0, src: Reg::R1, off: 4 },
//!     Insn::Jump {
//!         width: Width::W64,
//!         cond: exo_bpf::isa::JmpCond::Le,
//!         dst: Reg::R0,
//!         src: Operand::Imm(600),
//!         off: 1,
//!     },
//!     Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Operand::Imm(600) },
//!     Insn::Exit,
//! ]);
//! let mut point = AttachPoint::<PwmUpdate>::new(4);
//! let handle = point.attach(&clamp, &Helpers::new(), &MapSet::new())?;
//! let mut vm = Vm::new();
//! let request = PwmUpdate { channel: 0, duty: 900, period: 1000 };
//! assert_eq!(point.run(&mut vm, &request, None), 600);
//! point.detach(handle)?;
//! assert_eq!(point.run(&mut vm, &request, None), 900);
//! assert_eq!(point.detach(handle).unwrap_err(), AttachError::NotAttached);
//! # Ok::<(), AttachError>(())
//! ```

use alloc::vec::Vec;

use crate::context::ContextLayout;
use crate::helpers::Helpers;
use crate::interpreter::{ExecError, Input, Vm};
use crate::maps::MapSet;
use crate::program::{Config, LoadError, Program};

pub mod sim;

/// Largest context of any hook here (bytes).
pub const MAX_CONTEXT_SIZE: usize = 64;

/// Whether the remaining programs of a point run after one returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Run the next program.
    Continue,
    /// Stop: the outcome is decided.
    Stop,
}

/// A kind of event programs can attach to.
pub trait Hook {
    /// Name (as the command-line tool spells it).
    const NAME: &'static str;
    /// Bytes of the encoded context (at most [`MAX_CONTEXT_SIZE`]).
    const CONTEXT_SIZE: usize;
    /// The event, as the driver reports it.
    type Context: Copy + core::fmt::Debug;
    /// What the driver gets back once every program has run.
    type Outcome: Copy + core::fmt::Debug + PartialEq;

    /// The layout programs are verified against: [`Hook::CONTEXT_SIZE`]
    /// read-only bytes.
    #[must_use]
    fn layout() -> ContextLayout {
        ContextLayout::read_only(Self::CONTEXT_SIZE as u32)
    }

    /// Writes `ctx` into `out` (exactly [`Hook::CONTEXT_SIZE`] bytes).
    fn encode(ctx: &Self::Context, out: &mut [u8]);

    /// The outcome when no program (or none with an opinion) ran.
    fn initial(ctx: &Self::Context) -> Self::Outcome;

    /// Folds one program's result into `outcome`; may update `ctx` for the
    /// programs after it.
    fn fold(
        ctx: &mut Self::Context,
        outcome: &mut Self::Outcome,
        result: Result<u64, ExecError>,
    ) -> Flow;
}

fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Timer tick: `{u64 now_ns, u64 tick}`; return value ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerTick {
    /// Time of the tick.
    pub now_ns: u64,
    /// Tick number, from 0.
    pub tick: u64,
}

impl Hook for TimerTick {
    const NAME: &'static str = "timer";
    const CONTEXT_SIZE: usize = 16;
    type Context = TimerTick;
    type Outcome = ();

    fn encode(ctx: &TimerTick, out: &mut [u8]) {
        put_u64(out, 0, ctx.now_ns);
        put_u64(out, 8, ctx.tick);
    }

    fn initial(_: &TimerTick) {}

    fn fold(_: &mut TimerTick, (): &mut (), _: Result<u64, ExecError>) -> Flow {
        Flow::Continue
    }
}

/// A system call of the libOS: `{u64 nr, u64 args[6], i64 ret}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Syscall {
    /// Call number.
    pub nr: u64,
    /// Arguments.
    pub args: [u64; 6],
    /// Result (0 at entry).
    pub ret: i64,
}

fn encode_syscall(ctx: &Syscall, out: &mut [u8]) {
    put_u64(out, 0, ctx.nr);
    for (i, a) in ctx.args.iter().enumerate() {
        put_u64(out, 8 + 8 * i, *a);
    }
    put_u64(out, 56, ctx.ret as u64);
}

/// Whether a system call may proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallVerdict {
    /// Every program returned 0.
    Allow,
    /// A program returned this nonzero value, or failed (`u64::MAX`).
    Deny(u64),
}

/// System call entry; a nonzero return value denies the call.
#[derive(Clone, Copy, Debug)]
pub enum SyscallEntry {}

impl Hook for SyscallEntry {
    const NAME: &'static str = "syscall-entry";
    const CONTEXT_SIZE: usize = 64;
    type Context = Syscall;
    type Outcome = SyscallVerdict;

    fn encode(ctx: &Syscall, out: &mut [u8]) {
        encode_syscall(ctx, out);
    }

    fn initial(_: &Syscall) -> SyscallVerdict {
        SyscallVerdict::Allow
    }

    fn fold(_: &mut Syscall, outcome: &mut SyscallVerdict, r: Result<u64, ExecError>) -> Flow {
        match r {
            Ok(0) => Flow::Continue,
            Ok(code) => {
                *outcome = SyscallVerdict::Deny(code);
                Flow::Stop
            }
            Err(_) => {
                *outcome = SyscallVerdict::Deny(u64::MAX);
                Flow::Stop
            }
        }
    }
}

/// System call exit (`ret` holds the result); return value ignored.
#[derive(Clone, Copy, Debug)]
pub enum SyscallExit {}

impl Hook for SyscallExit {
    const NAME: &'static str = "syscall-exit";
    const CONTEXT_SIZE: usize = 64;
    type Context = Syscall;
    type Outcome = ();

    fn encode(ctx: &Syscall, out: &mut [u8]) {
        encode_syscall(ctx, out);
    }

    fn initial(_: &Syscall) {}

    fn fold(_: &mut Syscall, (): &mut (), _: Result<u64, ExecError>) -> Flow {
        Flow::Continue
    }
}

/// A GPIO edge: `{u32 pin, u32 level, u64 timestamp_ns}`; returning 0
/// suppresses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpioEdge {
    /// Pin number.
    pub pin: u32,
    /// Level after the edge (0 or 1).
    pub level: u32,
    /// Time of the edge.
    pub timestamp_ns: u64,
}

impl Hook for GpioEdge {
    const NAME: &'static str = "gpio";
    const CONTEXT_SIZE: usize = 16;
    type Context = GpioEdge;
    /// Whether the edge is delivered.
    type Outcome = bool;

    fn encode(ctx: &GpioEdge, out: &mut [u8]) {
        put_u32(out, 0, ctx.pin);
        put_u32(out, 4, ctx.level);
        put_u64(out, 8, ctx.timestamp_ns);
    }

    fn initial(_: &GpioEdge) -> bool {
        true
    }

    fn fold(_: &mut GpioEdge, deliver: &mut bool, r: Result<u64, ExecError>) -> Flow {
        if r == Ok(0) {
            *deliver = false;
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// A PWM duty update: `{u32 channel, u32 duty, u32 period, u32 reserved}`;
/// each program returns the duty to apply (clamped to `period`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PwmUpdate {
    /// Channel.
    pub channel: u32,
    /// Requested duty (ticks high per period).
    pub duty: u32,
    /// Period (ticks).
    pub period: u32,
}

impl Hook for PwmUpdate {
    const NAME: &'static str = "pwm";
    const CONTEXT_SIZE: usize = 16;
    type Context = PwmUpdate;
    /// The duty to apply.
    type Outcome = u32;

    fn encode(ctx: &PwmUpdate, out: &mut [u8]) {
        put_u32(out, 0, ctx.channel);
        put_u32(out, 4, ctx.duty);
        put_u32(out, 8, ctx.period);
        put_u32(out, 12, 0);
    }

    fn initial(ctx: &PwmUpdate) -> u32 {
        ctx.duty.min(ctx.period)
    }

    fn fold(ctx: &mut PwmUpdate, duty: &mut u32, r: Result<u64, ExecError>) -> Flow {
        if let Ok(v) = r {
            *duty = u32::try_from(v).unwrap_or(u32::MAX).min(ctx.period);
            ctx.duty = *duty;
        }
        Flow::Continue
    }
}

/// An IMU sample: `{u64 timestamp_ns, i32 ax, ay, az, gx, gy, gz}`
/// (acceleration in milli-g, rotation in milli-degrees per second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImuSample {
    /// Time of the sample.
    pub timestamp_ns: u64,
    /// Acceleration, milli-g.
    pub accel: [i32; 3],
    /// Angular rate, milli-degrees per second.
    pub gyro: [i32; 3],
}

impl Hook for ImuSample {
    const NAME: &'static str = "imu";
    const CONTEXT_SIZE: usize = 32;
    type Context = ImuSample;
    type Outcome = ();

    fn encode(ctx: &ImuSample, out: &mut [u8]) {
        put_u64(out, 0, ctx.timestamp_ns);
        for (i, v) in ctx.accel.iter().chain(ctx.gyro.iter()).enumerate() {
            put_u32(out, 8 + 4 * i, *v as u32);
        }
    }

    fn initial(_: &ImuSample) {}

    fn fold(_: &mut ImuSample, (): &mut (), _: Result<u64, ExecError>) -> Flow {
        Flow::Continue
    }
}

/// A tracepoint: `{u64 id, u64 data[6]}`; return value ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracepoint {
    /// Which tracepoint.
    pub id: u64,
    /// Its arguments.
    pub data: [u64; 6],
}

impl Hook for Tracepoint {
    const NAME: &'static str = "tracepoint";
    const CONTEXT_SIZE: usize = 56;
    type Context = Tracepoint;
    type Outcome = ();

    fn encode(ctx: &Tracepoint, out: &mut [u8]) {
        put_u64(out, 0, ctx.id);
        for (i, d) in ctx.data.iter().enumerate() {
            put_u64(out, 8 + 8 * i, *d);
        }
    }

    fn initial(_: &Tracepoint) {}

    fn fold(_: &mut Tracepoint, (): &mut (), _: Result<u64, ExecError>) -> Flow {
        Flow::Continue
    }
}

/// Names every hook here, as [`Hook::NAME`] spells them.
pub const HOOK_NAMES: [&str; 7] = [
    TimerTick::NAME,
    SyscallEntry::NAME,
    SyscallExit::NAME,
    GpioEdge::NAME,
    PwmUpdate::NAME,
    ImuSample::NAME,
    Tracepoint::NAME,
];

/// The context layout of the hook named `name`.
#[must_use]
pub fn layout_of(name: &str) -> Option<ContextLayout> {
    Some(match name {
        TimerTick::NAME => TimerTick::layout(),
        SyscallEntry::NAME => SyscallEntry::layout(),
        SyscallExit::NAME => SyscallExit::layout(),
        GpioEdge::NAME => GpioEdge::layout(),
        PwmUpdate::NAME => PwmUpdate::layout(),
        ImuSample::NAME => ImuSample::layout(),
        Tracepoint::NAME => Tracepoint::layout(),
        _ => return None,
    })
}

/// Names one attachment to one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttachHandle {
    point: u32,
    id: u32,
}

impl AttachHandle {
    /// The attachment's number within its point (from 1, in attach order).
    #[must_use]
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// Why an attach or detach failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// The program failed to load against the hook's context.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A loaded program's context layout does not fit the hook's.
    #[error(
        "program context ({program} bytes, writable {writable}) does not fit the hook's {hook}-byte read-only context"
    )]
    ContextMismatch {
        /// Bytes the program was verified for.
        program: u32,
        /// Whether it was verified to store into its context.
        writable: bool,
        /// Bytes the hook provides.
        hook: u32,
    },
    /// The handle names no program attached here (never attached, another
    /// point's, or already detached).
    #[error("not attached")]
    NotAttached,
    /// The point already holds [`AttachPoint::capacity`] programs.
    #[error("attach point full")]
    Full,
}

/// Counters of one attachment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttachStats {
    /// Runs.
    pub runs: u64,
    /// Runs that failed.
    pub errors: u64,
    /// `r0` of the last successful run.
    pub last: u64,
}

#[derive(Debug)]
struct Attached {
    id: u32,
    program: Program,
    stats: AttachStats,
}

/// The programs attached to one hook, in attach order.
#[derive(Debug)]
pub struct AttachPoint<H: Hook> {
    point: u32,
    next: u32,
    capacity: usize,
    programs: Vec<Attached>,
    _hook: core::marker::PhantomData<fn(H)>,
}

static NEXT_POINT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

impl<H: Hook> AttachPoint<H> {
    /// A point holding at most `capacity` programs (room for them is
    /// reserved now, so attaching does not reallocate).
    #[must_use]
    pub fn new(capacity: usize) -> AttachPoint<H> {
        const { assert!(H::CONTEXT_SIZE <= MAX_CONTEXT_SIZE) };
        AttachPoint {
            point: NEXT_POINT.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
            next: 1,
            capacity,
            programs: Vec::with_capacity(capacity),
            _hook: core::marker::PhantomData,
        }
    }

    /// Most programs this point holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Verifies and loads `bytecode` against the hook's context layout,
    /// `helpers` and `maps`, and attaches it after the programs already
    /// here.
    ///
    /// # Errors
    /// [`AttachError::Load`] if it does not verify, [`AttachError::Full`].
    pub fn attach(
        &mut self,
        bytecode: &[u8],
        helpers: &Helpers,
        maps: &MapSet,
    ) -> Result<AttachHandle, AttachError> {
        if self.programs.len() >= self.capacity {
            return Err(AttachError::Full);
        }
        let config = Config {
            helpers,
            maps,
            context: H::layout(),
        };
        let program = Program::load(bytecode, &config)?;
        self.attach_program(program)
    }

    /// Attaches a program already loaded, if the context it was verified
    /// for fits the hook's (no more bytes, no stores, no packet).
    ///
    /// # Errors
    /// [`AttachError::ContextMismatch`], [`AttachError::Full`].
    pub fn attach_program(&mut self, program: Program) -> Result<AttachHandle, AttachError> {
        let l = program.context_layout();
        if l.size as usize > H::CONTEXT_SIZE || l.writable || l.packet.is_some() {
            return Err(AttachError::ContextMismatch {
                program: l.size,
                writable: l.writable,
                hook: H::CONTEXT_SIZE as u32,
            });
        }
        if self.programs.len() >= self.capacity {
            return Err(AttachError::Full);
        }
        let id = self.next;
        self.next += 1;
        self.programs.push(Attached {
            id,
            program,
            stats: AttachStats::default(),
        });
        Ok(AttachHandle {
            point: self.point,
            id,
        })
    }

    fn position(&self, handle: AttachHandle) -> Result<usize, AttachError> {
        if handle.point != self.point {
            return Err(AttachError::NotAttached);
        }
        self.programs
            .iter()
            .position(|a| a.id == handle.id)
            .ok_or(AttachError::NotAttached)
    }

    /// Detaches the program `handle` names and returns it.
    ///
    /// # Errors
    /// [`AttachError::NotAttached`], also when it was detached already.
    pub fn detach(&mut self, handle: AttachHandle) -> Result<Program, AttachError> {
        let i = self.position(handle)?;
        Ok(self.programs.remove(i).program)
    }

    /// The counters of the program `handle` names.
    ///
    /// # Errors
    /// [`AttachError::NotAttached`].
    pub fn stats(&self, handle: AttachHandle) -> Result<AttachStats, AttachError> {
        Ok(self.programs[self.position(handle)?].stats)
    }

    /// Programs attached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.programs.len()
    }

    /// Whether no program is attached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// Handles of the attached programs, in run order.
    pub fn handles(&self) -> impl Iterator<Item = AttachHandle> + '_ {
        self.programs.iter().map(|a| AttachHandle {
            point: self.point,
            id: a.id,
        })
    }

    /// Fires the hook: runs the attached programs in attach order on `vm`,
    /// each on a fresh encoding of the (possibly updated) context, with
    /// `maps`, and returns the folded outcome. Allocates nothing.
    pub fn run(
        &mut self,
        vm: &mut Vm,
        ctx: &H::Context,
        mut maps: Option<&mut MapSet>,
    ) -> H::Outcome {
        let mut ctx = *ctx;
        let mut outcome = H::initial(&ctx);
        let mut buf = [0u8; MAX_CONTEXT_SIZE];
        for a in &mut self.programs {
            let bytes = &mut buf[..H::CONTEXT_SIZE];
            H::encode(&ctx, bytes);
            let mut input = Input::context(bytes);
            if let Some(m) = maps.as_deref_mut() {
                input = input.with_maps(m);
            }
            let result = vm.run(&a.program, input);
            a.stats.runs += 1;
            match result {
                Ok(r0) => a.stats.last = r0,
                Err(_) => a.stats.errors += 1,
            }
            if H::fold(&mut ctx, &mut outcome, result) == Flow::Stop {
                break;
            }
        }
        outcome
    }
}
