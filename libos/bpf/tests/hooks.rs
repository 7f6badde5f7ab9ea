//! Attach points and the simulated devices that drive them: programs from
//! `tests/c/hooks.c` (compiled with clang when the test runs) and
//! hand-assembled ones.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use exo_bpf::hooks::sim::{Device, SimGpio, SimImu, SimPwm, SimSyscalls, SimTimer};
use exo_bpf::hooks::{
    AttachError, AttachPoint, GpioEdge, Hook, ImuSample, PwmUpdate, Syscall, SyscallEntry,
    SyscallExit, SyscallVerdict, TimerTick, Tracepoint,
};
use exo_bpf::maps::UpdateFlags;
use exo_bpf::{
    ArrayMap, Config, ContextLayout, Helpers, LoadError, MapSet, Program, TimeSeriesMap,
    VerifyErrorKind, Vm,
};

/// Compiles `tests/c/hooks.c` once per test binary run.
fn object() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hooks_test.o");
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let status = Command::new("clang")
            .args(["-target", "bpf", "-O2", "-c"])
            .arg(dir.join("hooks.c"))
            .arg("-o")
            .arg(&out)
            .status()
            .expect("these tests need clang with the BPF target");
        assert!(status.success(), "clang failed on hooks.c");
    });
    std::fs::read(&out).expect("read object")
}

/// Section `section` of hooks.o, attached to a fresh point; the object's
/// maps are created in the returned set.
fn attach_c<H: Hook>(section: &str) -> (AttachPoint<H>, MapSet, Vec<(String, u32)>) {
    let mut maps = MapSet::new();
    let elf = exo_bpf::elf::load(&object(), section, &mut maps).expect("loads");
    let mut point = AttachPoint::<H>::new(4);
    point
        .attach(&elf.code, &Helpers::with_maps(), &maps)
        .unwrap_or_else(|e| panic!("{section}: {e}"));
    (point, maps, elf.maps)
}

fn map_index(maps: &[(String, u32)], name: &str) -> u32 {
    maps.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn imu_threshold_counts_samples_into_a_map() {
    let (mut point, mut maps, names) = attach_c::<ImuSample>("imu");
    let mut imu = SimImu::new(1_000_000, 1000);
    let mut vm = Vm::new();
    imu.run_for(200, &mut point, &mut vm, Some(&mut maps));
    let expected = (0..200u64).filter(|&n| imu.wave_at(n).abs() > 800).count() as u64;
    assert!(expected > 0 && expected < 200);
    let stats = maps.get(map_index(&names, "imu_stats")).unwrap();
    let word =
        |k: u32| u64::from_le_bytes(stats.get(&k.to_le_bytes()).unwrap().try_into().unwrap());
    assert_eq!(word(0), expected);
    assert_eq!(word(1), 1000, "largest |ax|");
    let h = point.handles().next().unwrap();
    assert_eq!(point.stats(h).unwrap().runs, 200);
    assert_eq!(point.stats(h).unwrap().errors, 0);
}

#[test]
fn pwm_clamp_limits_the_applied_duty() {
    let (mut point, _maps, _) = attach_c::<PwmUpdate>("pwm");
    let mut pwm = SimPwm::new(0, 1000, 37);
    let mut vm = Vm::new();
    for _ in 0..200 {
        let duty = pwm.step(&mut point, &mut vm, None);
        assert_eq!(duty, pwm.requested.min(800));
    }
    assert_eq!(pwm.max_applied, 800);
    // Without the program the hook still clamps to the period.
    let mut bare = AttachPoint::<PwmUpdate>::new(1);
    let u = PwmUpdate {
        channel: 0,
        duty: 5000,
        period: 1000,
    };
    assert_eq!(bare.run(&mut vm, &u, None), 1000);
}

#[test]
fn syscall_filter_denies_listed_calls() {
    let (mut entry, mut maps, names) = attach_c::<SyscallEntry>("syscall");
    let denied = map_index(&names, "denied");
    maps.get_mut(denied)
        .unwrap()
        .update(&59u64.to_le_bytes(), &1u64.to_le_bytes(), UpdateFlags::Any)
        .unwrap();
    maps.get_mut(denied)
        .unwrap()
        .update(&62u64.to_le_bytes(), &13u64.to_le_bytes(), UpdateFlags::Any)
        .unwrap();
    // An exit program that records the last result in an array map.
    let mut exit_point = AttachPoint::<SyscallExit>::new(1);
    let results = maps.insert(Box::new(ArrayMap::new(8, 1).unwrap()));
    exit_point
        .attach(
            &prog(&[
                ldx(DW, 6, 1, 56),
                mov64(1, 0),
                stx(W, 10, 1, -4),
                lddw_pseudo(1, 1, results as i32, 0),
                mov64_reg(2, 10),
                alu64_imm(ADD, 2, -4),
                call(1),
                jmp_imm(JEQ, 0, 0, 1),
                stx(DW, 0, 6, 0),
                mov64(0, 0),
                exit(),
            ]),
            &Helpers::with_maps(),
            &maps,
        )
        .unwrap();
    let mut vm = Vm::new();
    let mut sys = SimSyscalls::new(&[0, 59, 1, 62]);
    let args = [40, 2, 0, 0, 0, 0];
    assert_eq!(
        sys.call(
            0,
            args,
            &mut entry,
            &mut exit_point,
            &mut vm,
            Some(&mut maps)
        ),
        Ok(42)
    );
    let last = |maps: &MapSet| maps.get(results).unwrap().get(&0u32.to_le_bytes()).unwrap()[0];
    assert_eq!(last(&maps), 42);
    assert_eq!(
        sys.call(
            59,
            [7, 7, 0, 0, 0, 0],
            &mut entry,
            &mut exit_point,
            &mut vm,
            Some(&mut maps)
        ),
        Err(1)
    );
    assert_eq!(
        last(&maps),
        42,
        "the exit hook does not run for a denied call"
    );
    assert_eq!(
        sys.call(
            62,
            args,
            &mut entry,
            &mut exit_point,
            &mut vm,
            Some(&mut maps)
        ),
        Err(13)
    );
    // Driven as a device: calls cycle through 0, 59, 1, 62.
    let mut dev = SimSyscalls::new(&[0, 59, 1, 62]);
    dev.run_for(8, &mut entry, &mut vm, Some(&mut maps));
    assert_eq!((dev.calls, dev.denied), (8, 4));
}

#[test]
fn gpio_debounce_with_a_time_series() {
    let (mut point, mut maps, names) = attach_c::<GpioEdge>("gpio");
    let mut gpio = SimGpio::new(3, 3, 10_000_000);
    let mut vm = Vm::new();
    // 5 presses/releases, each 1 + 2 * 3 edges.
    gpio.run_for(35, &mut point, &mut vm, Some(&mut maps));
    assert_eq!(gpio.edges, 35);
    assert_eq!(gpio.delivered, 5, "one edge per settled change");
    assert_eq!(
        gpio.level, gpio.raw_level,
        "the delivered level is the settled one"
    );
    let series = maps
        .get_as::<TimeSeriesMap>(map_index(&names, "edges"))
        .unwrap();
    let stats = series.stats(0, u64::MAX);
    assert_eq!(stats.count, 5);
    assert_eq!((stats.min, stats.max), (0, 1));
    // Without the program every edge is delivered.
    let mut raw = SimGpio::new(3, 3, 10_000_000);
    raw.run_for(35, &mut AttachPoint::new(0), &mut vm, None);
    assert_eq!(raw.delivered, 35);
}

/// `r0 = *(u32 *)(r1 + 4) <op> k`: a PWM program transforming the duty.
fn duty_op(op: u8, k: i32) -> Vec<u8> {
    prog(&[ldx(W, 0, 1, 4), alu64_imm(op, 0, k), exit()])
}

#[test]
fn programs_run_in_attach_order_and_detach_by_handle() {
    let helpers = Helpers::new();
    let maps = MapSet::new();
    let mut point = AttachPoint::<PwmUpdate>::new(4);
    let add = point.attach(&duty_op(ADD, 10), &helpers, &maps).unwrap();
    let double = point.attach(&duty_op(MUL, 2), &helpers, &maps).unwrap();
    assert_eq!(point.len(), 2);
    assert_eq!(point.handles().collect::<Vec<_>>(), [add, double]);
    let mut vm = Vm::new();
    let u = PwmUpdate {
        channel: 1,
        duty: 100,
        period: 1000,
    };
    assert_eq!(point.run(&mut vm, &u, None), 220, "(100 + 10) * 2");
    point.detach(add).unwrap();
    assert_eq!(point.detach(add).unwrap_err(), AttachError::NotAttached);
    let add = point.attach(&duty_op(ADD, 10), &helpers, &maps).unwrap();
    assert_eq!(point.run(&mut vm, &u, None), 210, "100 * 2 + 10");
    // Clamped to the period after every program.
    let big = PwmUpdate { duty: 900, ..u };
    assert_eq!(point.run(&mut vm, &big, None), 1000);
    // A handle of another point is not attached here.
    let mut other = AttachPoint::<PwmUpdate>::new(1);
    assert_eq!(other.detach(add).unwrap_err(), AttachError::NotAttached);
    // Capacity.
    point.attach(&duty_op(ADD, 1), &helpers, &maps).unwrap();
    point.attach(&duty_op(ADD, 1), &helpers, &maps).unwrap();
    assert_eq!(
        point.attach(&duty_op(ADD, 1), &helpers, &maps).unwrap_err(),
        AttachError::Full
    );
}

#[test]
fn syscall_entry_stops_at_the_first_denial_and_fails_closed() {
    let helpers = Helpers::new();
    let maps = MapSet::new();
    let mut point = AttachPoint::<SyscallEntry>::new(4);
    let allow = point
        .attach(&prog(&[mov64(0, 0), exit()]), &helpers, &maps)
        .unwrap();
    let deny = point
        .attach(&prog(&[mov64(0, 7), exit()]), &helpers, &maps)
        .unwrap();
    let never = point
        .attach(&prog(&[mov64(0, 9), exit()]), &helpers, &maps)
        .unwrap();
    let mut vm = Vm::new();
    let sc = Syscall::default();
    assert_eq!(point.run(&mut vm, &sc, None), SyscallVerdict::Deny(7));
    assert_eq!(point.stats(allow).unwrap().runs, 1);
    assert_eq!(point.stats(never).unwrap().runs, 0);
    point.detach(deny).unwrap();
    point.detach(never).unwrap();
    assert_eq!(point.run(&mut vm, &sc, None), SyscallVerdict::Allow);
    // A program that runs out of budget denies.
    let spin = point
        .attach(
            &prog(&[
                mov64(0, 0),
                mov64(2, 0),
                alu64_imm(ADD, 2, 1),
                jmp_imm(JLT, 2, 1000, -2),
                exit(),
            ]),
            &helpers,
            &maps,
        )
        .unwrap();
    let mut small = Vm::new().with_budget(100);
    assert_eq!(
        point.run(&mut small, &sc, None),
        SyscallVerdict::Deny(u64::MAX)
    );
    assert_eq!(point.stats(spin).unwrap().errors, 1);
}

#[test]
fn attach_verifies_against_the_hook_context() {
    let helpers = Helpers::new();
    let maps = MapSet::new();
    // Reads `ret` at offset 56: inside a syscall context, outside a GPIO one.
    let read_ret = prog(&[ldx(DW, 0, 1, 56), exit()]);
    AttachPoint::<SyscallExit>::new(1)
        .attach(&read_ret, &helpers, &maps)
        .unwrap();
    match AttachPoint::<GpioEdge>::new(1).attach(&read_ret, &helpers, &maps) {
        Err(AttachError::Load(LoadError::Verify(e))) => {
            assert_eq!(e.index, 0);
            assert!(matches!(e.kind, VerifyErrorKind::OutOfBounds { .. }), "{e}");
        }
        other => panic!("expected a verifier refusal, got {other:?}"),
    }
    // Contexts are read-only.
    let store = prog(&[st(W, 1, 0, 1), mov64(0, 0), exit()]);
    assert!(matches!(
        AttachPoint::<TimerTick>::new(1).attach(&store, &helpers, &maps),
        Err(AttachError::Load(LoadError::Verify(_)))
    ));
    // A program loaded for a bigger context does not fit.
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: ContextLayout::read_only(64),
    };
    let program = Program::load(&read_ret, &config).unwrap();
    assert_eq!(
        AttachPoint::<Tracepoint>::new(1)
            .attach_program(program.clone())
            .unwrap_err(),
        AttachError::ContextMismatch {
            program: 64,
            writable: false,
            hook: 56
        }
    );
    AttachPoint::<SyscallEntry>::new(1)
        .attach_program(program)
        .unwrap();
}

#[test]
fn timer_and_tracepoint_contexts() {
    let helpers = Helpers::with_maps();
    let mut maps = MapSet::new();
    let sums = maps.insert(Box::new(ArrayMap::new(8, 2).unwrap()));
    // counts[0] += ctx[off0], counts[1] += ctx[off1]: checks the layout.
    let adder = |off0: i16, off1: i16| {
        let mut parts = Vec::new();
        for (key, off) in [(0, off0), (1, off1)] {
            parts.extend([
                ldx(DW, 6, 1, off),
                mov64(2, key),
                stx(W, 10, 2, -4),
                mov64_reg(7, 1),
                lddw_pseudo(1, 1, sums as i32, 0),
                mov64_reg(2, 10),
                alu64_imm(ADD, 2, -4),
                call(1),
                mov64_reg(1, 7),
                jmp_imm(JEQ, 0, 0, 1),
                atomic(DW, 0, 0, 6, 0),
            ]);
        }
        parts.extend([mov64(0, 0), exit()]);
        prog(&parts)
    };
    let mut timer = AttachPoint::<TimerTick>::new(1);
    timer.attach(&adder(0, 8), &helpers, &maps).unwrap();
    let mut vm = Vm::new();
    let mut dev = SimTimer::new(1000);
    dev.run_for(10, &mut timer, &mut vm, Some(&mut maps));
    let word = |maps: &MapSet, k: u32| {
        u64::from_le_bytes(
            maps.get(sums)
                .unwrap()
                .get(&k.to_le_bytes())
                .unwrap()
                .try_into()
                .unwrap(),
        )
    };
    assert_eq!(word(&maps, 0), 1000 * 45, "sum of now_ns");
    assert_eq!(word(&maps, 1), 45, "sum of tick");

    let mut tp = AttachPoint::<Tracepoint>::new(1);
    tp.attach(&adder(0, 48), &helpers, &maps).unwrap();
    let event = Tracepoint {
        id: 5,
        data: [1, 2, 3, 4, 5, 600],
    };
    tp.run(&mut vm, &event, Some(&mut maps));
    assert_eq!((word(&maps, 0), word(&maps, 1)), (45_005, 645));
}

#[test]
fn hook_names_and_layouts_agree() {
    use exo_bpf::hooks::{HOOK_NAMES, MAX_CONTEXT_SIZE, layout_of};
    let sizes = [
        (TimerTick::NAME, TimerTick::CONTEXT_SIZE),
        (SyscallEntry::NAME, SyscallEntry::CONTEXT_SIZE),
        (SyscallExit::NAME, SyscallExit::CONTEXT_SIZE),
        (GpioEdge::NAME, GpioEdge::CONTEXT_SIZE),
        (PwmUpdate::NAME, PwmUpdate::CONTEXT_SIZE),
        (ImuSample::NAME, ImuSample::CONTEXT_SIZE),
        (Tracepoint::NAME, Tracepoint::CONTEXT_SIZE),
    ];
    assert_eq!(HOOK_NAMES.len(), sizes.len());
    for (name, size) in sizes {
        assert!(HOOK_NAMES.contains(&name));
        assert!(size <= MAX_CONTEXT_SIZE);
        assert_eq!(layout_of(name), Some(ContextLayout::read_only(size as u32)));
    }
    assert_eq!(layout_of("nope"), None);
    // Encodings fill exactly the documented bytes.
    let mut buf = [0xaau8; 32];
    ImuSample::encode(
        &ImuSample {
            timestamp_ns: 7,
            accel: [-1, 2, 3],
            gyro: [4, 5, -6],
        },
        &mut buf,
    );
    assert_eq!(&buf[..8], &7u64.to_le_bytes());
    assert_eq!(&buf[8..12], &(-1i32).to_le_bytes());
    assert_eq!(&buf[28..32], &(-6i32).to_le_bytes());
}
