//! In the `embedded` profile a program run allocates nothing, whatever map
//! helpers it calls: every map kind is pre-allocated at creation. (The
//! test runs in `full` too, where it checks the same for pre-allocated
//! maps.)
//!
//! The library forbids `unsafe`; this test binary is separate, so it may
//! implement `GlobalAlloc` to count allocations made by the measuring
//! thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use exo_bpf::maps::{
    GET_SMP_PROCESSOR_ID, MAP_DELETE_ELEM, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, RINGBUF_OUTPUT,
    RINGBUF_RESERVE, RINGBUF_SUBMIT, TS_PUSH, TS_WINDOW,
};
use exo_bpf::{
    ArrayMap, ContextLayout, HashMap, Helpers, Input, LruHashMap, MapSet, PerCpuArrayMap,
    PerCpuHashMap, Program, RingBufMap, TimeSeriesMap, Vm,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn measuring() -> bool {
    MEASURING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if measuring() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if measuring() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn map(d: u8, index: i32) -> Vec<u8> {
    lddw_pseudo(d, 1, index, 0)
}

/// `r1 = map m; r2 = &key (at r10-4, = r6); call id` with r3 = &value
/// (r10-16) and r4 = 0 for updates.
fn keyed(m: i32, id: u32) -> Vec<u8> {
    prog(&[
        stx(W, 10, 6, -4),
        map(1, m),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        mov64_reg(3, 10),
        alu64_imm(ADD, 3, -16),
        mov64(4, 0),
        call(id as i32),
    ])
}

/// Touches every map kind through every helper, with a key from the
/// context-free `r6` (the CPU number plus a constant).
fn workout() -> Vec<u8> {
    let mut parts = vec![
        call(GET_SMP_PROCESSOR_ID as i32),
        mov64_reg(6, 0),
        alu64_imm(ADD, 6, 1),
        stx(DW, 10, 6, -16),
    ];
    // Hash, array, LRU, per-CPU array, per-CPU hash: update, lookup.
    for m in 0..5 {
        parts.push(keyed(m, MAP_UPDATE_ELEM));
        parts.push(keyed(m, MAP_LOOKUP_ELEM));
    }
    parts.push(keyed(0, MAP_DELETE_ELEM));
    parts.push(keyed(2, MAP_DELETE_ELEM));
    // Ring buffer: output, then reserve + submit.
    parts.extend([
        map(1, 5),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -16),
        mov64(3, 8),
        mov64(4, 0),
        call(RINGBUF_OUTPUT as i32),
        map(1, 5),
        mov64(2, 24),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 4),
        stx(DW, 0, 6, 0),
        mov64_reg(1, 0),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
    ]);
    // Time series: push, window.
    parts.extend([
        map(1, 6),
        mov64_reg(2, 6),
        mov64(3, 5),
        call(TS_PUSH as i32),
        map(1, 6),
        mov64(2, 0),
        mov64(3, 1000),
        mov64_reg(4, 10),
        alu64_imm(ADD, 4, -48),
        mov64(5, 32),
        call(TS_WINDOW as i32),
        exit(),
    ]);
    prog(&parts)
}

#[test]
fn runs_allocate_nothing() {
    let mut maps = MapSet::new();
    // In `embedded`, `HashMap::new` is the pre-allocated layout already.
    #[cfg(feature = "embedded")]
    maps.insert(Box::new(HashMap::new(4, 8, 64).unwrap()));
    #[cfg(not(feature = "embedded"))]
    maps.insert(Box::new(HashMap::preallocated(4, 8, 64).unwrap()));
    maps.insert(Box::new(ArrayMap::new(8, 64).unwrap()));
    maps.insert(Box::new(LruHashMap::new(4, 8, 4).unwrap()));
    maps.insert(Box::new(PerCpuArrayMap::new(8, 64, 4).unwrap()));
    #[cfg(feature = "embedded")]
    maps.insert(Box::new(PerCpuHashMap::new(4, 8, 64, 4).unwrap()));
    #[cfg(not(feature = "embedded"))]
    {
        // Outside `embedded` a per-CPU hash is elastic; warm it to its
        // full size first so growth is not counted.
        let mut m = PerCpuHashMap::new(4, 8, 64, 4).unwrap();
        use exo_bpf::Map;
        for k in 0u32..64 {
            m.update(&k.to_le_bytes(), &[0; 8], exo_bpf::maps::UpdateFlags::Any)
                .unwrap();
        }
        for k in 0u32..64 {
            m.delete(&k.to_le_bytes()).unwrap();
        }
        maps.insert(Box::new(m));
    }
    maps.insert(Box::new(RingBufMap::new(1 << 16).unwrap()));
    maps.insert(Box::new(TimeSeriesMap::new(16).unwrap()));
    let helpers = Helpers::with_maps();
    let program = Program::load(
        &workout(),
        &config(&helpers, &maps, ContextLayout::default()),
    )
    .unwrap_or_else(|e| panic!("load failed: {e}"));
    let mut vm = Vm::new();
    // One warm-up run outside the measurement.
    let expect_count = |n: u64| n;
    assert_eq!(
        vm.run(&program, Input::default().with_maps(&mut maps).on_cpu(0))
            .unwrap(),
        expect_count(1)
    );
    MEASURING.with(|m| m.set(true));
    let mut last = 0;
    for i in 0..200u32 {
        last = vm
            .run(
                &program,
                Input::default().with_maps(&mut maps).on_cpu(i % 4),
            )
            .unwrap();
    }
    MEASURING.with(|m| m.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(allocations, 0, "a run allocated");
    // The time series kept its newest 16 samples, all in the window.
    assert_eq!(last, 16);
    let ring = maps.get_as::<RingBufMap>(5).unwrap().ring().clone();
    let mut n = 0;
    ring.consumer().unwrap().consume(|_| n += 1);
    assert_eq!(n, 2 * 201);
}

#[test]
fn firing_hooks_allocates_nothing() {
    use exo_bpf::hooks::sim::{Device, SimGpio, SimPwm, SimTimer};
    use exo_bpf::hooks::{AttachPoint, GpioEdge, PwmUpdate, TimerTick};

    let mut maps = MapSet::new();
    maps.insert(Box::new(TimeSeriesMap::new(16).unwrap()));
    maps.insert(Box::new(ArrayMap::new(8, 4).unwrap()));
    let helpers = Helpers::with_maps();
    // GPIO: push (timestamp, level) into the time series, deliver.
    let mut gpio = AttachPoint::<GpioEdge>::new(2);
    gpio.attach(
        &prog(&[
            ldx(DW, 2, 1, 8),
            ldx(W, 3, 1, 4),
            map(1, 0),
            call(TS_PUSH as i32),
            mov64(0, 1),
            exit(),
        ]),
        &helpers,
        &maps,
    )
    .unwrap();
    // PWM: halve the duty, twice.
    let mut pwm = AttachPoint::<PwmUpdate>::new(2);
    let halve = prog(&[ldx(W, 0, 1, 4), alu64_imm(RSH, 0, 1), exit()]);
    pwm.attach(&halve, &helpers, &maps).unwrap();
    pwm.attach(&halve, &helpers, &maps).unwrap();
    // Timer: count ticks in array slot 0.
    let mut timer = AttachPoint::<TimerTick>::new(1);
    timer
        .attach(
            &prog(&[
                st(W, 10, -4, 0),
                map(1, 1),
                mov64_reg(2, 10),
                alu64_imm(ADD, 2, -4),
                call(MAP_LOOKUP_ELEM as i32),
                jmp_imm(JEQ, 0, 0, 2),
                mov64(1, 1),
                atomic(DW, 0, 0, 1, 0),
                mov64(0, 0),
                exit(),
            ]),
            &helpers,
            &maps,
        )
        .unwrap();
    let mut vm = Vm::new();
    let (mut g, mut p, mut t) = (
        SimGpio::new(1, 2, 1_000_000),
        SimPwm::new(0, 1000, 99),
        SimTimer::new(1000),
    );
    MEASURING.with(|m| m.set(true));
    g.run_for(100, &mut gpio, &mut vm, Some(&mut maps));
    p.run_for(100, &mut pwm, &mut vm, Some(&mut maps));
    t.run_for(100, &mut timer, &mut vm, Some(&mut maps));
    MEASURING.with(|m| m.set(false));
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "firing a hook allocated"
    );
    assert_eq!(g.delivered, 100);
    assert_eq!(p.applied, (p.requested / 2 / 2).min(1000));
    let ticks = maps
        .get(1)
        .unwrap()
        .get(&0u32.to_le_bytes())
        .unwrap()
        .to_vec();
    assert_eq!(ticks, 100u64.to_le_bytes());
}
