//! Map throughput: the ring buffer (host producer and consumer, and a
//! program's reserve/fill/submit), LRU inserts with eviction, and
//! time-series window statistics.
//!
//! `cargo bench -p exo-bpf --bench maps`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exo_bpf::isa::{AluOp, Imm64, Insn, JmpCond, Operand, Reg, Size, Width, assemble};
use exo_bpf::maps::{RINGBUF_RESERVE, RINGBUF_SUBMIT, UpdateFlags};
use exo_bpf::{
    Config, ContextLayout, Helpers, Input, LruHashMap, Map, MapSet, Program, RingBuf, RingBufMap,
    TimeSeriesMap, Vm,
};

/// Reserves 16 bytes, stores two words, submits; returns 1 (0 if full).
fn reserve_submit() -> Vec<u8> {
    let mov = |dst, src| Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    };
    assemble(&[
        Insn::LoadImm64 {
            dst: Reg::R1,
            value: Imm64::MapFd(0),
        },
        mov(Reg::R2, Operand::Imm(16)),
        mov(Reg::R3, Operand::Imm(0)),
        Insn::Call {
            id: RINGBUF_RESERVE as i32,
        },
        Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R0,
            src: Operand::Imm(0),
            off: 7,
        },
        Insn::Store {
            size: Size::DW,
            dst: Reg::R0,
            off: 0,
            imm: 1,
        },
        Insn::Store {
            size: Size::DW,
            dst: Reg::R0,
            off: 8,
            imm: 2,
        },
        mov(Reg::R1, Operand::Reg(Reg::R0)),
        mov(Reg::R2, Operand::Imm(0)),
        Insn::Call {
            id: RINGBUF_SUBMIT as i32,
        },
        mov(Reg::R0, Operand::Imm(1)),
        Insn::Exit,
        mov(Reg::R0, Operand::Imm(0)),
        Insn::Exit,
    ])
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ringbuf");
    group.throughput(Throughput::Elements(64));
    let ring = RingBuf::new(1 << 16).unwrap();
    let mut consumer = ring.consumer().unwrap();
    group.bench_function("host_output_consume_16B_x64", |b| {
        b.iter(|| {
            for i in 0u64..64 {
                ring.output(&[i.to_le_bytes(), i.to_le_bytes()].concat())
                    .unwrap();
            }
            black_box(consumer.consume(|r| {
                black_box(r);
            }))
        });
    });

    let mut maps = MapSet::new();
    maps.insert(Box::new(RingBufMap::new(1 << 16).unwrap()));
    let helpers = Helpers::with_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: ContextLayout::default(),
    };
    let program = Program::load(&reserve_submit(), &config).expect("verifies");
    let ring = maps.get_as::<RingBufMap>(0).unwrap().ring().clone();
    let mut consumer = ring.consumer().unwrap();
    let mut vm = Vm::new();
    group.bench_function("program_reserve_submit_consume_x64", |b| {
        b.iter(|| {
            for _ in 0..64 {
                let r = vm
                    .run(&program, Input::default().with_maps(&mut maps))
                    .unwrap();
                assert_eq!(r, 1);
            }
            black_box(consumer.consume(|r| {
                black_box(r);
            }))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("lru");
    group.throughput(Throughput::Elements(1));
    let mut lru = LruHashMap::new(8, 8, 1024).unwrap();
    let mut k = 0u64;
    group.bench_function("insert_with_eviction", |b| {
        b.iter(|| {
            k += 1;
            lru.update(&k.to_le_bytes(), &k.to_le_bytes(), UpdateFlags::Any)
                .unwrap();
        });
    });
    group.finish();

    let mut group = c.benchmark_group("timeseries");
    let mut ts = TimeSeriesMap::new(4096).unwrap();
    for t in 0..4096u64 {
        ts.push(t, (t * 7 % 101) as i64).unwrap();
    }
    group.throughput(Throughput::Elements(1024));
    group.bench_function("stats_window_1024", |b| {
        b.iter(|| black_box(ts.stats(black_box(1000), black_box(2024))));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
