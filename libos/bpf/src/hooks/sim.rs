//! Simulated devices that drive the hooks, for tests and the command-line
//! tool.
//!
//! Each device implements [`Device`], a small Tock-style interface: the
//! device produces its next event ([`Device::next_event`]), the driver
//! fires the hook's [`AttachPoint`] with it, and the device is told the
//! outcome ([`Device::complete`]) — an edge delivered or suppressed, the
//! duty actually applied. [`Device::step`] does all three. Every device is
//! deterministic, so tests can state exact expectations.

use super::{
    AttachPoint, GpioEdge, Hook, ImuSample, PwmUpdate, Syscall, SyscallEntry, SyscallExit,
    SyscallVerdict, TimerTick,
};
use crate::interpreter::Vm;
use crate::maps::MapSet;

/// A device that reports events of hook `H`.
pub trait Device {
    /// The hook its events fire.
    type H: Hook;

    /// The next event.
    fn next_event(&mut self) -> <Self::H as Hook>::Context;

    /// Called with the outcome of the event just reported.
    fn complete(&mut self, event: &<Self::H as Hook>::Context, outcome: <Self::H as Hook>::Outcome);

    /// Produces one event, runs the programs attached to `point`, and
    /// completes it.
    fn step(
        &mut self,
        point: &mut AttachPoint<Self::H>,
        vm: &mut Vm,
        maps: Option<&mut MapSet>,
    ) -> <Self::H as Hook>::Outcome {
        let event = self.next_event();
        let outcome = point.run(vm, &event, maps);
        self.complete(&event, outcome);
        outcome
    }

    /// [`Device::step`] `n` times.
    fn run_for(
        &mut self,
        n: usize,
        point: &mut AttachPoint<Self::H>,
        vm: &mut Vm,
        mut maps: Option<&mut MapSet>,
    ) {
        for _ in 0..n {
            self.step(point, vm, maps.as_deref_mut());
        }
    }
}

/// A periodic timer: tick `n` at `n * period_ns`.
#[derive(Clone, Copy, Debug)]
pub struct SimTimer {
    /// Period.
    pub period_ns: u64,
    /// Ticks reported so far.
    pub ticks: u64,
}

impl SimTimer {
    /// A timer with period `period_ns`.
    #[must_use]
    pub fn new(period_ns: u64) -> SimTimer {
        SimTimer {
            period_ns,
            ticks: 0,
        }
    }
}

impl Device for SimTimer {
    type H = TimerTick;

    fn next_event(&mut self) -> TimerTick {
        TimerTick {
            now_ns: self.ticks * self.period_ns,
            tick: self.ticks,
        }
    }

    fn complete(&mut self, _: &TimerTick, (): ()) {
        self.ticks += 1;
    }
}

/// One GPIO input pin whose switch bounces: each press or release is a
/// burst of `bounces` extra edges 100 µs apart, then the level settles
/// for `settle_ns` before the next change.
#[derive(Clone, Copy, Debug)]
pub struct SimGpio {
    /// Pin number.
    pub pin: u32,
    /// Extra edges per change.
    pub bounces: u32,
    /// Quiet time between changes.
    pub settle_ns: u64,
    /// Level as the raw input last saw it.
    pub raw_level: u32,
    /// Level as delivered edges report it.
    pub level: u32,
    /// Edges produced.
    pub edges: u64,
    /// Edges delivered (not suppressed).
    pub delivered: u64,
    now: u64,
    in_burst: u32,
}

/// Spacing of bounce edges.
pub const BOUNCE_NS: u64 = 100_000;

impl SimGpio {
    /// A pin at level 0.
    #[must_use]
    pub fn new(pin: u32, bounces: u32, settle_ns: u64) -> SimGpio {
        SimGpio {
            pin,
            bounces,
            settle_ns,
            raw_level: 0,
            level: 0,
            edges: 0,
            delivered: 0,
            now: 0,
            in_burst: 0,
        }
    }
}

impl Device for SimGpio {
    type H = GpioEdge;

    fn next_event(&mut self) -> GpioEdge {
        if self.in_burst == 0 {
            self.now += self.settle_ns;
            self.in_burst = 2 * self.bounces + 1;
        } else {
            self.now += BOUNCE_NS;
        }
        self.in_burst -= 1;
        self.raw_level ^= 1;
        GpioEdge {
            pin: self.pin,
            level: self.raw_level,
            timestamp_ns: self.now,
        }
    }

    fn complete(&mut self, edge: &GpioEdge, delivered: bool) {
        self.edges += 1;
        if delivered {
            self.delivered += 1;
            self.level = edge.level;
        }
    }
}

/// A PWM channel whose requested duty ramps by `step` per update, from 0
/// up to twice the period and around again.
#[derive(Clone, Copy, Debug)]
pub struct SimPwm {
    /// Channel.
    pub channel: u32,
    /// Period, in ticks.
    pub period: u32,
    /// Ramp step.
    pub step: u32,
    /// Duty last requested.
    pub requested: u32,
    /// Duty last applied (after the programs).
    pub applied: u32,
    /// Largest duty ever applied.
    pub max_applied: u32,
}

impl SimPwm {
    /// A channel at duty 0.
    #[must_use]
    pub fn new(channel: u32, period: u32, step: u32) -> SimPwm {
        SimPwm {
            channel,
            period,
            step,
            requested: 0,
            applied: 0,
            max_applied: 0,
        }
    }
}

impl Device for SimPwm {
    type H = PwmUpdate;

    fn next_event(&mut self) -> PwmUpdate {
        let span = u64::from(self.period) * 2 + 1;
        self.requested = ((u64::from(self.requested) + u64::from(self.step)) % span) as u32;
        PwmUpdate {
            channel: self.channel,
            duty: self.requested,
            period: self.period,
        }
    }

    fn complete(&mut self, _: &PwmUpdate, duty: u32) {
        self.applied = duty;
        self.max_applied = self.max_applied.max(duty);
    }
}

/// An IMU sampled every `period_ns`: acceleration is a triangle wave of
/// amplitude `amplitude` milli-g on x (phase-shifted on y, 1 g on z), the
/// gyro reads a quarter of it.
#[derive(Clone, Copy, Debug)]
pub struct SimImu {
    /// Sample period.
    pub period_ns: u64,
    /// Peak acceleration on x and y, milli-g.
    pub amplitude: i32,
    /// Samples per wave period.
    pub wave: u32,
    /// Samples taken.
    pub samples: u64,
}

impl SimImu {
    /// An IMU with a 40-sample wave.
    #[must_use]
    pub fn new(period_ns: u64, amplitude: i32) -> SimImu {
        SimImu {
            period_ns,
            amplitude,
            wave: 40,
            samples: 0,
        }
    }

    /// The triangle wave at sample `n`: from `-amplitude` up to
    /// `amplitude` and back over [`SimImu::wave`] samples.
    #[must_use]
    pub fn wave_at(&self, n: u64) -> i32 {
        let half = u64::from(self.wave / 2).max(1);
        let phase = n % (2 * half);
        let up = if phase < half {
            phase
        } else {
            2 * half - phase
        };
        let a = i64::from(self.amplitude);
        (-a + 2 * a * up as i64 / half as i64) as i32
    }
}

impl Device for SimImu {
    type H = ImuSample;

    fn next_event(&mut self) -> ImuSample {
        let n = self.samples;
        let ax = self.wave_at(n);
        let ay = self.wave_at(n + u64::from(self.wave / 4));
        ImuSample {
            timestamp_ns: n * self.period_ns,
            accel: [ax, ay, 1000],
            gyro: [ax / 4, ay / 4, 0],
        }
    }

    fn complete(&mut self, _: &ImuSample, (): ()) {
        self.samples += 1;
    }
}

/// The libOS system call path, simulated: calls cycle through `numbers`
/// with arguments derived from the call count; an allowed call "returns"
/// the sum of its first two arguments.
#[derive(Clone, Copy, Debug)]
pub struct SimSyscalls<'a> {
    /// Call numbers, in turn.
    pub numbers: &'a [u64],
    /// Calls made.
    pub calls: u64,
    /// Calls denied.
    pub denied: u64,
}

impl<'a> SimSyscalls<'a> {
    /// Calls cycling through `numbers` (which must not be empty).
    #[must_use]
    pub fn new(numbers: &'a [u64]) -> SimSyscalls<'a> {
        SimSyscalls {
            numbers,
            calls: 0,
            denied: 0,
        }
    }

    /// Makes call `nr` with `args`: runs the entry programs, and if they
    /// allow it, "executes" it and runs the exit programs on the result.
    /// Returns the result, or `Err` with the denying code.
    pub fn call(
        &mut self,
        nr: u64,
        args: [u64; 6],
        entry: &mut AttachPoint<SyscallEntry>,
        exit: &mut AttachPoint<SyscallExit>,
        vm: &mut Vm,
        mut maps: Option<&mut MapSet>,
    ) -> Result<i64, u64> {
        let mut sc = Syscall { nr, args, ret: 0 };
        self.calls += 1;
        match entry.run(vm, &sc, maps.as_deref_mut()) {
            SyscallVerdict::Deny(code) => {
                self.denied += 1;
                Err(code)
            }
            SyscallVerdict::Allow => {
                sc.ret = args[0].wrapping_add(args[1]) as i64;
                exit.run(vm, &sc, maps);
                Ok(sc.ret)
            }
        }
    }
}

impl Device for SimSyscalls<'_> {
    type H = SyscallEntry;

    fn next_event(&mut self) -> Syscall {
        let n = self.calls;
        let nr = self.numbers[(n % self.numbers.len() as u64) as usize];
        Syscall {
            nr,
            args: [n, n * 2, 0, 0, 0, 0],
            ret: 0,
        }
    }

    fn complete(&mut self, _: &Syscall, verdict: SyscallVerdict) {
        self.calls += 1;
        if verdict != SyscallVerdict::Allow {
            self.denied += 1;
        }
    }
}
