//! The map kinds beyond hash and array: LRU hash, per-CPU array and hash,
//! ring buffer, time series, and elastic hash growth; each from the host
//! API and from programs through the helpers (run on the interpreter and,
//! where built, the JIT, which must agree).

mod common;

use common::*;
use exo_bpf::maps::ringbuf::{BUSY_BIT, DATA_OFFSET, DISCARD_BIT, PAGE_SIZE, PRODUCER_PAGE};
use exo_bpf::maps::{
    GET_SMP_PROCESSOR_ID, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, RINGBUF_DISCARD, RINGBUF_OUTPUT,
    RINGBUF_QUERY, RINGBUF_RESERVE, RINGBUF_SUBMIT, TS_PUSH, TS_WINDOW, UpdateFlags, WindowStats,
};
use exo_bpf::{
    ContextLayout, HashMap, Helpers, Input, LruHashMap, Map, MapError, MapSet, PerCpuArrayMap,
    PerCpuHashMap, Program, RingBuf, RingBufMap, TimeSeriesMap, VerifyErrorKind, Vm,
};

/// `lddw rd, map index`.
fn map(d: u8, index: i32) -> Vec<u8> {
    lddw_pseudo(d, 1, index, 0)
}

fn load(code: &[u8], maps: &MapSet) -> Program {
    let helpers = Helpers::with_maps();
    Program::load(code, &config(&helpers, maps, ContextLayout::default()))
        .unwrap_or_else(|e| panic!("load failed: {e}"))
}

/// Runs `program` over `maps` on `cpu` with the interpreter and (where
/// built) the JIT, on separate copies of the map state prepared by `make`,
/// checking both return the same value and leave `check`-equal state.
fn run_on(program: &Program, maps: &mut MapSet, cpu: u32) -> u64 {
    Vm::new()
        .run(program, Input::default().with_maps(maps).on_cpu(cpu))
        .expect("runs")
}

#[cfg(all(
    feature = "jit",
    feature = "std",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
))]
fn run_jit_on(program: &Program, maps: &mut MapSet, cpu: u32) -> u64 {
    let jit = exo_bpf::JitProgram::compile_host(program).expect("the JIT compiles it");
    Vm::new()
        .run_jit(&jit, Input::default().with_maps(maps).on_cpu(cpu))
        .expect("runs")
}

/// Runs on both engines, each against its own maps from `make`; asserts
/// the results agree and returns the interpreter's maps.
fn both(code: &[u8], make: impl Fn() -> MapSet, cpu: u32) -> (u64, MapSet) {
    let mut maps = make();
    let program = load(code, &maps);
    let r = run_on(&program, &mut maps, cpu);
    #[cfg(all(
        feature = "jit",
        feature = "std",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    ))]
    {
        let mut other = make();
        assert_eq!(
            run_jit_on(&program, &mut other, cpu),
            r,
            "interpreter and JIT disagree"
        );
    }
    (r, maps)
}

// ---------------------------------------------------------------- LRU

#[test]
fn lru_evicts_least_recently_used() {
    let mut m = LruHashMap::new(4, 8, 3).unwrap();
    for k in 1u32..=3 {
        m.update(
            &k.to_le_bytes(),
            &u64::from(k).to_le_bytes(),
            UpdateFlags::Any,
        )
        .unwrap();
    }
    assert!(m.touch(&1u32.to_le_bytes()));
    m.update(&4u32.to_le_bytes(), &[4; 8], UpdateFlags::Any)
        .unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m.evictions(), 1);
    assert!(m.get(&2u32.to_le_bytes()).is_none(), "2 was least recent");
    assert!(m.get(&1u32.to_le_bytes()).is_some());
    let order: Vec<u32> = m
        .keys_by_recency()
        .map(|k| u32::from_le_bytes(k.try_into().unwrap()))
        .collect();
    assert_eq!(order, [4, 1, 3]);
    m.delete(&3u32.to_le_bytes()).unwrap();
    assert_eq!(m.delete(&3u32.to_le_bytes()), Err(MapError::NotFound));
    // Many evictions keep working in constant space.
    for k in 10u32..10_000 {
        m.update(&k.to_le_bytes(), &[1; 8], UpdateFlags::Any)
            .unwrap();
    }
    assert_eq!(m.len(), 3);
    let order: Vec<u32> = m
        .keys_by_recency()
        .map(|k| u32::from_le_bytes(k.try_into().unwrap()))
        .collect();
    assert_eq!(order, [9999, 9998, 9997]);
}

/// `key = k; r0 = lookup(map 0, &key); if r0 { r0 = *r0 } else { r0 = -1 }`.
fn lookup_prog(k: i32) -> Vec<u8> {
    prog(&[
        st(W, 10, -4, k),
        map(1, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(MAP_LOOKUP_ELEM as i32),
        jmp_imm(JEQ, 0, 0, 2),
        ldx(DW, 0, 0, 0),
        exit(),
        mov64(0, -1),
        exit(),
    ])
}

#[test]
fn lru_lookup_from_a_program_refreshes_recency() {
    let make = || {
        let mut m = LruHashMap::new(4, 8, 2).unwrap();
        m.update(&1u32.to_le_bytes(), &11u64.to_le_bytes(), UpdateFlags::Any)
            .unwrap();
        m.update(&2u32.to_le_bytes(), &22u64.to_le_bytes(), UpdateFlags::Any)
            .unwrap();
        let mut maps = MapSet::new();
        maps.insert(Box::new(m));
        maps
    };
    let (r, mut maps) = both(&lookup_prog(1), make, 0);
    assert_eq!(r, 11);
    let lru = maps.get_as_mut::<LruHashMap>(0).unwrap();
    lru.update(&3u32.to_le_bytes(), &[3; 8], UpdateFlags::Any)
        .unwrap();
    assert!(
        lru.get(&1u32.to_le_bytes()).is_some(),
        "the program's lookup kept 1"
    );
    assert!(lru.get(&2u32.to_le_bytes()).is_none());
}

// ------------------------------------------------------------ per-CPU

/// Increments the `u64` at key 0 of map 0 and returns the CPU number.
fn percpu_increment() -> Vec<u8> {
    prog(&[
        st(W, 10, -4, 0),
        map(1, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(MAP_LOOKUP_ELEM as i32),
        jmp_imm(JEQ, 0, 0, 3),
        ldx(DW, 1, 0, 0),
        alu64_imm(ADD, 1, 1),
        stx(DW, 0, 1, 0),
        call(GET_SMP_PROCESSOR_ID as i32),
        exit(),
    ])
}

#[test]
fn percpu_array_counts_per_cpu() {
    let mut maps = MapSet::new();
    maps.insert(Box::new(PerCpuArrayMap::new(8, 4, 4).unwrap()));
    let program = load(&percpu_increment(), &maps);
    for (cpu, times) in [(0u32, 1), (1, 3), (3, 5)] {
        for _ in 0..times {
            assert_eq!(run_on(&program, &mut maps, cpu), u64::from(cpu));
        }
    }
    let m = maps.get_as::<PerCpuArrayMap>(0).unwrap();
    let all: Vec<u64> = m
        .get_all(&0u32.to_le_bytes())
        .unwrap()
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(all, [1, 3, 0, 5]);
    assert_eq!(
        m.get_cpu(&0u32.to_le_bytes(), 3).unwrap(),
        5u64.to_le_bytes()
    );
    assert!(m.get_cpu(&0u32.to_le_bytes(), 4).is_none());
    // A run on a CPU the map lacks finds nothing (lookup returns null).
    assert_eq!(run_on(&program, &mut maps, 9), 9);
    let (r, _) = both(
        &percpu_increment(),
        || {
            let mut maps = MapSet::new();
            maps.insert(Box::new(PerCpuArrayMap::new(8, 4, 4).unwrap()));
            maps
        },
        2,
    );
    assert_eq!(r, 2);
}

/// `update(map 0, key 7, value = cpu * 100)`; returns the helper result.
fn percpu_hash_update() -> Vec<u8> {
    prog(&[
        call(GET_SMP_PROCESSOR_ID as i32),
        alu64_imm(MUL, 0, 100),
        stx(DW, 10, 0, -16),
        st(W, 10, -4, 7),
        map(1, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        mov64_reg(3, 10),
        alu64_imm(ADD, 3, -16),
        mov64(4, 0),
        call(MAP_UPDATE_ELEM as i32),
        exit(),
    ])
}

#[test]
fn percpu_hash_updates_the_calling_cpus_slot() {
    let mut maps = MapSet::new();
    maps.insert(Box::new(PerCpuHashMap::new(4, 8, 16, 3).unwrap()));
    let program = load(&percpu_hash_update(), &maps);
    assert_eq!(run_on(&program, &mut maps, 2), 0);
    {
        let m = maps.get_as::<PerCpuHashMap>(0).unwrap();
        let all = m.get_all(&7u32.to_le_bytes()).unwrap();
        assert_eq!(&all[..16], &[0; 16], "other CPUs zeroed on creation");
        assert_eq!(&all[16..], &200u64.to_le_bytes());
    }
    assert_eq!(run_on(&program, &mut maps, 1), 0);
    let m = maps.get_as_mut::<PerCpuHashMap>(0).unwrap();
    assert_eq!(
        m.get_cpu(&7u32.to_le_bytes(), 1).unwrap(),
        100u64.to_le_bytes()
    );
    assert_eq!(
        m.get_cpu(&7u32.to_le_bytes(), 2).unwrap(),
        200u64.to_le_bytes()
    );
    assert_eq!(m.len(), 1);
    // Host update: one value for every CPU.
    m.update(&7u32.to_le_bytes(), &5u64.to_le_bytes(), UpdateFlags::Exist)
        .unwrap();
    assert_eq!(
        m.get_cpu(&7u32.to_le_bytes(), 0).unwrap(),
        5u64.to_le_bytes()
    );
    assert_eq!(
        m.get_cpu(&7u32.to_le_bytes(), 2).unwrap(),
        5u64.to_le_bytes()
    );
    assert_eq!(
        m.update(&7u32.to_le_bytes(), &[0; 9], UpdateFlags::Any),
        Err(MapError::Invalid)
    );
}

// -------------------------------------------------------- ring buffer

/// Reserves 16 bytes of map 0, writes `a` and the CPU into it, and
/// submits (or discards) it; returns 1, or 0 if the ring was full.
fn ringbuf_prog(a: i32, discard: bool) -> Vec<u8> {
    prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32), // slot 4
        jmp_imm(JEQ, 0, 0, 9),
        mov64_reg(6, 0),
        st(DW, 6, 0, a),
        call(GET_SMP_PROCESSOR_ID as i32),
        stx(DW, 6, 0, 8),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(if discard {
            RINGBUF_DISCARD
        } else {
            RINGBUF_SUBMIT
        } as i32),
        mov64(0, 1),
        exit(),
        mov64(0, 0),
        exit(),
    ])
}

fn ring_maps(size: u32) -> MapSet {
    let mut maps = MapSet::new();
    maps.insert(Box::new(RingBufMap::new(size).unwrap()));
    maps
}

fn records(maps: &MapSet) -> Vec<Vec<u8>> {
    let ring = maps.get_as::<RingBufMap>(0).unwrap().ring().clone();
    let mut consumer = ring.consumer().expect("first consumer");
    let mut out = Vec::new();
    consumer.consume(|r| out.push(r.to_vec()));
    assert!(ring.consumer().is_none(), "one consumer per ring");
    out
}

fn record(a: u64, cpu: u64) -> Vec<u8> {
    [a.to_le_bytes(), cpu.to_le_bytes()].concat()
}

#[test]
fn ringbuf_reserve_submit_discard_from_programs() {
    let (r, maps) = both(&ringbuf_prog(42, false), || ring_maps(4096), 3);
    assert_eq!(r, 1);
    assert_eq!(records(&maps), [record(42, 3)]);
    let (r, maps) = both(&ringbuf_prog(42, true), || ring_maps(4096), 0);
    assert_eq!(r, 1);
    assert!(records(&maps).is_empty(), "discarded records are skipped");
    assert_eq!(maps.get_as::<RingBufMap>(0).unwrap().outstanding(), 0);

    // Full ring: reserve returns null. 64 bytes hold two 24-byte records.
    let mut maps = ring_maps(64);
    let program = load(&ringbuf_prog(1, false), &maps);
    let results: Vec<u64> = (0..4).map(|_| run_on(&program, &mut maps, 0)).collect();
    assert_eq!(results, [1, 1, 0, 0]);
    let ring = maps.get_as::<RingBufMap>(0).unwrap().ring().clone();
    let mut consumer = ring.consumer().unwrap();
    assert_eq!(consumer.consume(|_| {}), 2);
    // Consumed space is reusable, across the wrap-around.
    for i in 0..10 {
        assert_eq!(run_on(&program, &mut maps, i), 1);
        let mut got = Vec::new();
        consumer.consume(|r| got.push(r.to_vec()));
        assert_eq!(got, [record(1, u64::from(i))]);
    }
}

#[test]
fn ringbuf_output_and_query() {
    // output(map, &stack[-8..], 8, 0); return
    // query(AVAIL_DATA) * 1000 + query(RING_SIZE) / 1024
    let code = prog(&[
        st(DW, 10, -8, 0x1234),
        map(1, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -8),
        mov64(3, 8),
        mov64(4, 0),
        call(RINGBUF_OUTPUT as i32),
        map(1, 0),
        mov64(2, 0),
        call(RINGBUF_QUERY as i32),
        alu64_imm(MUL, 0, 1000),
        mov64_reg(6, 0),
        map(1, 0),
        mov64(2, 1),
        call(RINGBUF_QUERY as i32),
        alu64_imm(DIV, 0, 1024),
        alu64_reg(ADD, 0, 6),
        exit(),
    ]);
    let (r, maps) = both(&code, || ring_maps(4096), 0);
    assert_eq!(r, 16 * 1000 + 4);
    assert_eq!(records(&maps), [0x1234u64.to_le_bytes().to_vec()]);
}

#[test]
fn ringbuf_mapping_layout() {
    let ring = RingBuf::new(64).unwrap();
    ring.output(b"hello").unwrap();
    let held = ring.reserve(3).unwrap();
    let image = ring.mapping_image();
    assert_eq!(image.len(), DATA_OFFSET + 64);
    assert_eq!(&image[..8], &0u64.to_le_bytes(), "consumer position");
    assert_eq!(
        &image[PRODUCER_PAGE..PRODUCER_PAGE + 8],
        &32u64.to_le_bytes(),
        "producer position: two 16-byte records"
    );
    let header = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
    let pg_off = |at: usize| u32::from_le_bytes(image[at + 4..at + 8].try_into().unwrap());
    assert_eq!(header(DATA_OFFSET), 5);
    assert_eq!(pg_off(DATA_OFFSET) as usize, DATA_OFFSET / PAGE_SIZE);
    assert_eq!(&image[DATA_OFFSET + 8..DATA_OFFSET + 13], b"hello");
    assert_eq!(header(DATA_OFFSET + 16), 3 | BUSY_BIT);
    ring.commit(held, b"abc", true);
    let image = ring.mapping_image();
    assert_eq!(
        u32::from_le_bytes(
            image[DATA_OFFSET + 16..DATA_OFFSET + 20]
                .try_into()
                .unwrap()
        ),
        3 | DISCARD_BIT
    );
    assert_eq!(RingBuf::new(48).unwrap_err(), MapError::Invalid);
    assert_eq!(ring.reserve(0).unwrap_err(), MapError::Invalid);
    assert_eq!(ring.reserve(64).unwrap_err(), MapError::Invalid);
}

#[test]
fn ringbuf_busy_record_blocks_later_ones_until_submitted() {
    let mut producer = RingBufMap::new(256).unwrap();
    let ring = producer.ring().clone();
    let mut consumer = ring.consumer().unwrap();
    let first = producer.reserve(4).unwrap();
    producer.output(b"second").unwrap();
    assert_eq!(consumer.consume(|_| {}), 0, "the busy first record blocks");
    producer.values_mut()[first..first + 4].copy_from_slice(b"one!");
    producer.finish(first, false).unwrap();
    assert_eq!(producer.finish(first, false), Err(MapError::NotFound));
    let mut got = Vec::new();
    consumer.consume(|r| got.push(r.to_vec()));
    assert_eq!(got, [b"one!".to_vec(), b"second".to_vec()]);
    assert_eq!(ring.consumer_pos(), ring.producer_pos());
}

/// Producers on host threads (some through programs) and one consumer,
/// all at once: every record arrives once, each producer's in order.
#[test]
fn ringbuf_concurrent_producers_and_consumer() {
    const PRODUCERS: u64 = 4;
    const PER: u64 = 20_000;
    let ring = RingBuf::new(1 << 14).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let ring = ring.clone();
            s.spawn(move || {
                if p == 0 {
                    // Through a program: reserve, fill, submit.
                    let mut maps = MapSet::new();
                    maps.insert(Box::new(RingBufMap::attach(ring)));
                    let program = load(&ringbuf_prog(0, false), &maps);
                    let mut seq = 0;
                    while seq < PER {
                        // The record carries the CPU field: use it as the
                        // sequence number.
                        let ok = Vm::new()
                            .run(
                                &program,
                                Input::default().with_maps(&mut maps).on_cpu(seq as u32),
                            )
                            .unwrap();
                        if ok == 1 {
                            seq += 1;
                        } else {
                            std::thread::yield_now();
                        }
                    }
                } else {
                    let mut seq = 0;
                    while seq < PER {
                        match ring.output(&record(p, seq)) {
                            Ok(()) => seq += 1,
                            Err(MapError::NoSpace) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        let mut next = [0u64; PRODUCERS as usize];
        let mut total = 0;
        while total < PRODUCERS * PER {
            let n = consumer.consume(|r| {
                assert_eq!(r.len(), 16);
                let p = u64::from_le_bytes(r[..8].try_into().unwrap());
                let seq = u64::from_le_bytes(r[8..].try_into().unwrap());
                assert_eq!(seq, next[p as usize], "producer {p} out of order");
                next[p as usize] += 1;
            });
            if n == 0 {
                std::thread::yield_now();
            }
            total += n as u64;
        }
        assert_eq!(next, [PER; PRODUCERS as usize]);
    });
    let elapsed = start.elapsed();
    println!(
        "ring buffer: {} records of 16 bytes from {PRODUCERS} producers in {elapsed:?} ({:.2} M records/s)",
        PRODUCERS * PER,
        (PRODUCERS * PER) as f64 / elapsed.as_secs_f64() / 1e6
    );
    assert_eq!(ring.consumer_pos(), ring.producer_pos());
}

// ----------------------------------------------------------- verifier

fn ring_rejection(code: &[u8]) -> exo_bpf::VerifyError {
    verify_with(code, &ring_maps(4096), ContextLayout::default())
        .expect_err("verifier accepted a program it should refuse")
}

#[test]
fn verifier_rejects_leaked_reservation_naming_the_reserve() {
    let code = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32), // slot 4
        jmp_imm(JEQ, 0, 0, 1),
        st(DW, 0, 0, 1), // written, never submitted
        mov64(0, 0),
        exit(), // slot 8
    ]);
    let e = ring_rejection(&code);
    assert_eq!(e.index, 8);
    assert_eq!(e.kind, VerifyErrorKind::ReservationLeak { reserved_at: 4 });
    assert!(e.to_string().contains("instruction 4"), "{e}");
}

#[test]
fn verifier_rejects_double_submit_and_use_after_submit() {
    let double = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 7),
        mov64_reg(6, 0),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_DISCARD as i32), // slot 12
        mov64(0, 0),
        exit(),
    ]);
    let e = ring_rejection(&double);
    assert_eq!(e.index, 12);
    assert_eq!(
        e.kind,
        VerifyErrorKind::ReservationReleased(exo_bpf::isa::Reg::R1)
    );

    let use_after = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 5),
        mov64_reg(6, 0),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        st(DW, 6, 0, 1), // slot 10
        mov64(0, 0),
        exit(),
    ]);
    let e = ring_rejection(&use_after);
    assert_eq!(e.index, 10);
    assert_eq!(
        e.kind,
        VerifyErrorKind::ReservationReleased(exo_bpf::isa::Reg::R6)
    );
}

#[test]
fn verifier_checks_reservation_types() {
    // Submitting without a null check.
    let unchecked = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        mov64_reg(1, 0),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        exit(),
    ]);
    assert!(matches!(
        ring_rejection(&unchecked).kind,
        VerifyErrorKind::NullDereference(_)
    ));
    // Writing past the reserved size.
    let overflow = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 5),
        st(DW, 0, 12, 1),
        mov64_reg(1, 0),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        mov64(0, 0),
        exit(),
    ]);
    assert!(matches!(
        ring_rejection(&overflow).kind,
        VerifyErrorKind::OutOfBounds { .. }
    ));
    // A size the verifier does not know.
    let variable = prog(&[
        call(GET_SMP_PROCESSOR_ID as i32),
        mov64_reg(2, 0),
        map(1, 0),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        mov64(0, 0),
        exit(),
    ]);
    assert!(matches!(
        ring_rejection(&variable).kind,
        VerifyErrorKind::HelperArg { arg: 2, .. }
    ));
    // A ring buffer is no key/value map, and vice versa.
    let lookup = lookup_prog(0);
    assert!(matches!(
        ring_rejection(&lookup).kind,
        VerifyErrorKind::HelperArg { arg: 1, .. }
    ));
    let mut hash = MapSet::new();
    hash.insert(Box::new(HashMap::new(4, 8, 4).unwrap()));
    assert!(matches!(
        verify_with(&ringbuf_prog(1, false), &hash, ContextLayout::default())
            .unwrap_err()
            .kind,
        VerifyErrorKind::HelperArg { arg: 1, .. }
    ));
    // Released on one path only, then merged: refused at exit.
    let one_path = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32), // slot 4
        jmp_imm(JEQ, 0, 0, 6),
        mov64_reg(6, 0),
        jmp_imm(JEQ, 6, 0, 3), // (never taken, but not proven)
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        mov64(0, 0),
        exit(),
    ]);
    // r6 == 0 is refined on r6 (a non-null record): both edges live, and
    // the taken one skips the submit.
    let e = ring_rejection(&one_path);
    assert_eq!(e.kind, VerifyErrorKind::ReservationLeak { reserved_at: 4 });
}

// --------------------------------------------------------- time series

#[test]
fn time_series_orders_evicts_and_queries_windows() {
    let mut ts = TimeSeriesMap::new(4).unwrap();
    for (t, v) in [(10, 5), (20, -3), (20, 7), (35, 100)] {
        ts.push(t, v).unwrap();
    }
    assert_eq!(ts.push(19, 0), Err(MapError::OutOfOrder));
    assert_eq!(
        ts.stats(10, 35),
        WindowStats {
            count: 3,
            min: -3,
            max: 7,
            mean: 3
        }
    );
    assert_eq!(
        ts.window(20, 36).collect::<Vec<_>>(),
        [(20, -3), (20, 7), (35, 100)]
    );
    ts.push(40, 1).unwrap(); // evicts (10, 5)
    assert_eq!(ts.evicted(), 1);
    assert_eq!(ts.span(), Some((20, 40)));
    assert_eq!(ts.stats(0, 15), WindowStats::default());
    assert_eq!(ts.stats(0, u64::MAX).count, 4);
    assert_eq!(ts.stats(50, 10).count, 0, "empty for t1 < t0");
    // Exact-timestamp lookup and replacement through the Map trait.
    assert_eq!(
        ts.get(&35u64.to_le_bytes()),
        Some(&100i64.to_le_bytes()[..])
    );
    ts.update(
        &35u64.to_le_bytes(),
        &9i64.to_le_bytes(),
        UpdateFlags::Exist,
    )
    .unwrap();
    assert_eq!(ts.stats(35, 36).max, 9);
    // Means do not overflow.
    let mut big = TimeSeriesMap::new(2).unwrap();
    big.push(1, i64::MAX).unwrap();
    big.push(2, i64::MAX - 1).unwrap();
    assert_eq!(big.stats(0, 3).mean, i64::MAX - 1);
}

#[test]
fn time_series_helpers_from_programs() {
    // push(10, 4), push(20, 8), push(15, 1) (refused), then window stats
    // of [0, 100) into the stack; return count * 1000 + max * 10 + mean
    // + the refused push's errno (-34) * 100000.
    let push = |t: i32, v: i32| prog(&[map(1, 0), mov64(2, t), mov64(3, v), call(TS_PUSH as i32)]);
    let code = prog(&[
        push(10, 4),
        push(20, 8),
        push(15, 1),
        mov64_reg(7, 0),
        map(1, 0),
        mov64(2, 0),
        mov64(3, 100),
        mov64_reg(4, 10),
        alu64_imm(ADD, 4, -32),
        mov64(5, 32),
        call(TS_WINDOW as i32),
        mov64_reg(6, 0),
        alu64_imm(MUL, 6, 1000),
        ldx(DW, 1, 10, -16),
        alu64_imm(MUL, 1, 10),
        alu64_reg(ADD, 6, 1),
        ldx(DW, 1, 10, -8),
        alu64_reg(ADD, 6, 1),
        alu64_imm(MUL, 7, 100_000),
        alu64_reg(ADD, 6, 7),
        mov64_reg(0, 6),
        exit(),
    ]);
    let make = || {
        let mut maps = MapSet::new();
        maps.insert(Box::new(TimeSeriesMap::new(8).unwrap()));
        maps
    };
    let (r, maps) = both(&code, make, 0);
    assert_eq!(r as i64, 2 * 1000 + 8 * 10 + 6 - 34 * 100_000);
    assert_eq!(maps.get_as::<TimeSeriesMap>(0).unwrap().len(), 2);
}

// ------------------------------------------------------------- elastic

#[cfg(not(feature = "embedded"))]
#[test]
fn elastic_hash_grows_and_keeps_pointers_valid() {
    let mut m = HashMap::new(4, 8, 100_000).unwrap();
    assert!(m.is_elastic());
    assert_eq!(m.value_storage(), 0, "nothing allocated up front");
    for k in 0u32..1000 {
        m.update(
            &k.to_le_bytes(),
            &u64::from(k * 3).to_le_bytes(),
            UpdateFlags::Any,
        )
        .unwrap();
    }
    assert_eq!(m.value_storage(), 1000 * 8);
    for k in (0u32..1000).step_by(2) {
        m.delete(&k.to_le_bytes()).unwrap();
    }
    for k in 5000u32..5500 {
        m.update(&k.to_le_bytes(), &[1; 8], UpdateFlags::Any)
            .unwrap();
    }
    assert_eq!(m.value_storage(), 1000 * 8, "deleted nodes are reused");
    assert_eq!(m.len(), 1000);
    for k in (1u32..1000).step_by(2) {
        assert_eq!(
            m.get(&k.to_le_bytes()).unwrap(),
            u64::from(k * 3).to_le_bytes()
        );
    }
    // A program sees grown maps like any other.
    let mut maps = MapSet::new();
    maps.insert(Box::new(m));
    let program = load(&lookup_prog(999), &maps);
    assert_eq!(run_on(&program, &mut maps, 0), 2997);
    // The limit still holds.
    let mut small = HashMap::new(4, 4, 2).unwrap();
    small.update(&[1; 4], &[0; 4], UpdateFlags::Any).unwrap();
    small.update(&[2; 4], &[0; 4], UpdateFlags::Any).unwrap();
    assert_eq!(
        small.update(&[3; 4], &[0; 4], UpdateFlags::Any),
        Err(MapError::Full)
    );
}

#[test]
fn preallocated_hash_allocates_everything_up_front() {
    let m = HashMap::preallocated(4, 8, 100).unwrap();
    assert!(!m.is_elastic());
    assert_eq!(m.value_storage(), 256 * 8);
    #[cfg(feature = "embedded")]
    assert!(!HashMap::new(4, 8, 100).unwrap().is_elastic());
}

#[test]
fn verifier_accepts_submit_or_discard_on_each_path() {
    let code = prog(&[
        map(1, 0),
        mov64(2, 16),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 12),
        mov64_reg(6, 0),
        call(GET_SMP_PROCESSOR_ID as i32),
        st(DW, 6, 0, 5),
        stx(DW, 6, 0, 8),
        jmp_imm(JEQ, 0, 0, 4),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        ja(3),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_DISCARD as i32),
        mov64(0, 0),
        exit(),
    ]);
    let (_, maps) = both(&code, || ring_maps(4096), 0);
    assert!(records(&maps).is_empty(), "CPU 0 discards");
    let (_, maps) = both(&code, || ring_maps(4096), 1);
    assert_eq!(records(&maps), [record(5, 1)], "other CPUs submit");
}

#[test]
fn reservations_inside_a_bounded_loop() {
    let code = prog(&[
        mov64(7, 0),
        map(1, 0), // loop header, slot 1
        mov64(2, 8),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 4),
        stx(DW, 0, 7, 0),
        mov64_reg(1, 0),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        alu64_imm(ADD, 7, 1),
        jmp_imm(JLT, 7, 4, -12),
        mov64_reg(0, 7),
        exit(),
    ]);
    let (r, maps) = both(&code, || ring_maps(4096), 0);
    assert_eq!(r, 4);
    let got: Vec<u64> = records(&maps)
        .iter()
        .map(|r| u64::from_le_bytes(r[..].try_into().unwrap()))
        .collect();
    assert_eq!(got, [0, 1, 2, 3]);
    // Without the submit, the loop leaks a reservation per iteration.
    let mut leaky = code.clone();
    leaky[8 * 8..11 * 8].copy_from_slice(&prog(&[mov64(1, 0), mov64(2, 0), mov64(3, 0)]));
    let e = ring_rejection(&leaky);
    assert!(
        matches!(
            e.kind,
            VerifyErrorKind::LoopNotInvariant | VerifyErrorKind::ReservationLeak { .. }
        ),
        "{e}"
    );
}

#[test]
fn aborted_runs_discard_their_reservations() {
    // Reserve, spin through a bounded loop, submit: with a small budget
    // the run stops inside the loop, holding the reservation.
    let code = prog(&[
        map(1, 0),
        mov64(2, 8),
        mov64(3, 0),
        call(RINGBUF_RESERVE as i32),
        jmp_imm(JEQ, 0, 0, 7),
        mov64_reg(6, 0),
        mov64(7, 0),
        alu64_imm(ADD, 7, 1), // loop header, slot 8
        jmp_imm(JLT, 7, 100, -2),
        mov64_reg(1, 6),
        mov64(2, 0),
        call(RINGBUF_SUBMIT as i32),
        mov64(0, 0),
        exit(),
    ]);
    let mut maps = ring_maps(4096);
    let program = load(&code, &maps);
    let run = |vm: &mut Vm, maps: &mut MapSet| vm.run(&program, Input::default().with_maps(maps));
    assert!(matches!(
        run(&mut Vm::new().with_budget(20), &mut maps),
        Err(exo_bpf::ExecError::BudgetExhausted { .. })
    ));
    #[cfg(all(
        feature = "jit",
        feature = "std",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    ))]
    {
        let jit = exo_bpf::JitProgram::compile_host(&program).unwrap();
        assert!(matches!(
            Vm::new()
                .with_budget(20)
                .run_jit(&jit, Input::default().with_maps(&mut maps)),
            Err(exo_bpf::ExecError::BudgetExhausted { .. })
        ));
    }
    assert_eq!(maps.get_as::<RingBufMap>(0).unwrap().outstanding(), 0);
    // The discarded records do not block a later, complete run.
    assert_eq!(run(&mut Vm::new(), &mut maps), Ok(0));
    let ring = maps.get_as::<RingBufMap>(0).unwrap().ring().clone();
    let mut got = Vec::new();
    ring.consumer().unwrap().consume(|r| got.push(r.to_vec()));
    assert_eq!(got.len(), 1);
    assert_eq!(ring.consumer_pos(), ring.producer_pos());
}
