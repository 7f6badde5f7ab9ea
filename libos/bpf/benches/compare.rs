//! exo-bpf against rbpf 0.4, on the same bytecode: our interpreter and
//! JIT next to rbpf's interpreter and JIT (`EbpfVmMbuff`, whose metadata
//! buffer holds the packet's `data`/`data_end` as our context does), for
//! five programs, then a ratio table (ours / rbpf per mode; below 1 means
//! we are faster). Then the verifier's time and peak heap at 100, 1,000
//! and 10,000 instructions.
//!
//! `cargo bench -p exo-bpf --bench compare`; `EXO_BENCH_SMOKE=1` for a
//! quick run with few iterations.
//!
//! rbpf has no maps: in the map-lookup program its side calls a helper
//! that returns a pointer into a Rust array (registered as allowed memory
//! for its interpreter), where ours calls `map_lookup_elem` on an
//! [`ArrayMap`] with the key on the stack; everything else is identical
//! bytecode.
#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/counting.rs"]
mod counting;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use exo_bpf::{
    ArrayMap, Config, ContextLayout, Helper, HelperError, HelperProto, Helpers, Input, Map, MapSet,
    Memory, PacketFields, Program, Vm,
};

// ---------------------------------------------------------------------------
// Heap measurement for the verifier figures: the counting allocator of
// tests/common/counting.rs.

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn smoke() -> bool {
    std::env::var_os("EXO_BENCH_SMOKE").is_some_and(|v| v != "0")
}

// ---------------------------------------------------------------------------
// Programs. The context is 16 bytes: the packet's data and data_end.

const CTX: ContextLayout = ContextLayout {
    size: 16,
    writable: false,
    packet: Some(PacketFields {
        data: 0,
        data_end: 8,
        writable: false,
    }),
};

/// Helper id of `mix(a, b) = a * 31 + b` (both runtimes).
const MIX: u32 = 0x200;
/// rbpf's stand-in for `map_lookup_elem`: `&TABLE[key & 15]`.
const RBPF_LOOKUP: u32 = 1;

fn mix_rbpf(a: u64, b: u64, _: u64, _: u64, _: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

fn mix_exo(
    _: &mut Memory<'_, '_>,
    a: u64,
    b: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    Ok(mix_rbpf(a, b, 0, 0, 0))
}

static TABLE: [u64; 16] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3];

fn lookup_rbpf(_map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    TABLE.as_ptr() as u64 + (key & 15) * 8
}

/// `r0 = 0; for (r1 = 0; r1 < 1000; r1++) { r2 = r1 * 3 ^ r0; r0 += r2; r0 &= 0xffffff; }`
fn arith_loop() -> Vec<u8> {
    prog(&[
        mov64(0, 0),
        mov64(1, 0),
        mov64_reg(2, 1),
        alu64_imm(MUL, 2, 3),
        alu64_reg(XOR, 2, 0),
        alu64_reg(ADD, 0, 2),
        alu64_imm(AND, 0, 0xff_ffff),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 1000, -7),
        exit(),
    ])
}

/// 100 iterations of: spill eight words to the stack, read them back
/// (bytes and words too), fold them into r0.
fn stack_heavy() -> Vec<u8> {
    let mut body = Vec::new();
    for k in 0..8i16 {
        body.push(mov64_reg(2, 6));
        body.push(alu64_imm(ADD, 2, i32::from(k) * 7));
        body.push(stx(DW, 10, 2, -8 * (k + 1)));
    }
    for k in 0..8i16 {
        body.push(ldx(DW, 3, 10, -8 * (k + 1)));
        body.push(alu64_reg(XOR, 0, 3));
        body.push(ldx(B, 4, 10, -8 * (k + 1)));
        body.push(alu64_reg(ADD, 0, 4));
    }
    body.push(st(W, 10, -68, 7));
    body.push(ldx(W, 5, 10, -68));
    body.push(alu64_reg(ADD, 0, 5));
    let n = body.len() as i16;
    let mut parts = vec![mov64(0, 0), mov64(6, 0)];
    parts.extend(body);
    parts.push(alu64_imm(ADD, 6, 1));
    parts.push(jmp_imm(JLT, 6, 100, -(n + 2)));
    parts.push(exit());
    prog(&parts)
}

/// 100 calls of `mix`.
fn helper_heavy() -> Vec<u8> {
    prog(&[
        mov64(0, 1),
        mov64(6, 0),
        mov64_reg(1, 0),
        mov64_reg(2, 6),
        call(MIX as i32),
        alu64_imm(ADD, 6, 1),
        jmp_imm(JLT, 6, 100, -5),
        exit(),
    ])
}

/// 100 lookups of key `i & 15` in a 16-entry array map, summing the
/// values. `rbpf`: the key goes by value to [`lookup_rbpf`].
fn map_lookups(rbpf: bool) -> Vec<u8> {
    let key = if rbpf {
        vec![mov64_reg(2, 6), alu64_imm(AND, 2, 15)]
    } else {
        vec![
            mov64_reg(2, 6),
            alu64_imm(AND, 2, 15),
            stx(W, 10, 2, -4),
            mov64_reg(2, 10),
            alu64_imm(ADD, 2, -4),
        ]
    };
    let n = key.len() as i16;
    // The map handle is reloaded each iteration (calls clobber r1).
    let mut parts = vec![mov64(7, 0), mov64(6, 0), lddw_pseudo(1, 1, 0, 0)];
    parts.extend(key);
    parts.extend([
        call(1),
        jmp_imm(JEQ, 0, 0, 2),
        ldx(DW, 3, 0, 0),
        alu64_reg(ADD, 7, 3),
        alu64_imm(ADD, 6, 1),
        jmp_imm(JLT, 6, 100, -(n + 8)),
        mov64_reg(0, 7),
        exit(),
    ]);
    prog(&parts)
}

/// Accepts UDP/IPv4 packets to port 53 with a small payload checksum:
/// bounds check, Ethernet type, IP version/IHL, protocol, port, then a
/// 16-bit sum over the 8-byte UDP header.
fn packet_filter() -> Vec<u8> {
    prog(&[
        ldx(DW, 2, 1, 0), // data
        ldx(DW, 3, 1, 8), // data_end
        mov64(0, 0),
        mov64_reg(4, 2),
        alu64_imm(ADD, 4, 42),
        jmp_reg(JGT, 4, 3, 22), // too short -> drop
        ldx(H, 5, 2, 12),
        endian(true, 16, 5),
        jmp_imm(JNE, 5, 0x0800, 19),
        ldx(B, 5, 2, 14),
        jmp_imm(JNE, 5, 0x45, 17),
        ldx(B, 5, 2, 23),
        jmp_imm(JNE, 5, 17, 15),
        ldx(H, 5, 2, 36),
        endian(true, 16, 5),
        jmp_imm(JNE, 5, 53, 12),
        ldx(H, 6, 2, 34),
        ldx(H, 7, 2, 38),
        alu64_reg(ADD, 6, 7),
        ldx(H, 7, 2, 40),
        alu64_reg(ADD, 6, 7),
        ldx(H, 7, 2, 36),
        alu64_reg(ADD, 6, 7),
        mov64_reg(7, 6),
        alu64_imm(RSH, 7, 16),
        alu64_imm(AND, 6, 0xffff),
        alu64_reg(ADD, 6, 7),
        mov64_reg(0, 6),
        exit(),
    ])
}

fn dns_packet() -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    p[14] = 0x45;
    p[23] = 17;
    p[34..36].copy_from_slice(&5353u16.to_be_bytes());
    p[36..38].copy_from_slice(&53u16.to_be_bytes());
    p[38..40].copy_from_slice(&30u16.to_be_bytes());
    p[40..42].copy_from_slice(&0xbeefu16.to_be_bytes());
    p
}

// ---------------------------------------------------------------------------
// Engines

struct Case {
    name: &'static str,
    ours: Vec<u8>,
    theirs: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let same = |name, code: Vec<u8>| Case {
        name,
        ours: code.clone(),
        theirs: code,
    };
    vec![
        same("arith_loop", arith_loop()),
        same("stack_heavy", stack_heavy()),
        same("helper_heavy", helper_heavy()),
        Case {
            name: "map_lookups",
            ours: map_lookups(false),
            theirs: map_lookups(true),
        },
        same("packet_filter", packet_filter()),
    ]
}

fn our_helpers() -> Helpers {
    let mut h = Helpers::with_maps();
    h.register(
        MIX,
        Helper {
            name: "mix",
            proto: HelperProto {
                args: [
                    exo_bpf::ArgType::Scalar,
                    exo_bpf::ArgType::Scalar,
                    exo_bpf::ArgType::None,
                    exo_bpf::ArgType::None,
                    exo_bpf::ArgType::None,
                ],
                ret: exo_bpf::RetType::Scalar,
            },
            func: mix_exo,
        },
    )
    .expect("id in range");
    h
}

fn our_maps() -> MapSet {
    let mut maps = MapSet::new();
    let mut table = ArrayMap::new(8, 16).unwrap();
    for (k, v) in TABLE.iter().enumerate() {
        table
            .update(
                &(k as u32).to_le_bytes(),
                &v.to_le_bytes(),
                exo_bpf::maps::UpdateFlags::Any,
            )
            .unwrap();
    }
    maps.insert(Box::new(table));
    maps
}

fn rbpf_vm(code: &[u8]) -> rbpf::EbpfVmMbuff<'_> {
    let mut vm = rbpf::EbpfVmMbuff::new(Some(code)).expect("rbpf loads");
    vm.register_helper(MIX, mix_rbpf).unwrap();
    vm.register_helper(RBPF_LOOKUP, lookup_rbpf).unwrap();
    let start = TABLE.as_ptr() as u64;
    vm.register_allowed_memory(start..start + 128);
    vm
}

fn mbuff_for(packet: &[u8]) -> [u8; 16] {
    let start = packet.as_ptr() as u64;
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&start.to_le_bytes());
    m[8..].copy_from_slice(&(start + packet.len() as u64).to_le_bytes());
    m
}

const HOST_JIT: bool = cfg!(all(
    feature = "jit",
    feature = "std",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
));

/// Median time per call of `f` over `rounds` batches.
fn time(rounds: usize, mut f: impl FnMut() -> u64) -> Duration {
    let mut batch = 1usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(if smoke() { 2 } else { 20 }) {
        for _ in 0..batch {
            black_box(f());
        }
        batch *= 2;
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            t.elapsed() / batch as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn bench(c: &mut Criterion) {
    let helpers = our_helpers();
    let maps_def = our_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps_def,
        context: CTX,
    };
    let packet = dns_packet();
    let rounds = if smoke() { 3 } else { 15 };
    let mut table: Vec<(&str, [Duration; 4])> = Vec::new();

    for case in cases() {
        let program =
            Program::load(&case.ours, &config).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let mut maps = our_maps();
        let mut vm = Vm::new();
        let mut ctx = [0u8; 16];
        let mut pkt = packet.clone();
        let mut run_ours = |vm: &mut Vm, maps: &mut MapSet| {
            vm.run(
                &program,
                Input::context(&mut ctx)
                    .with_packet(&mut pkt)
                    .with_maps(maps),
            )
            .expect("runs")
        };
        let ours = run_ours(&mut vm, &mut maps);

        let mut rvm = rbpf_vm(&case.theirs);
        let mbuff = mbuff_for(&packet);
        let theirs = rvm.execute_program(&packet, &mbuff).expect("rbpf runs");
        assert_eq!(ours, theirs, "{}: both compute the same result", case.name);
        rvm.jit_compile().expect("rbpf JIT compiles");
        let mut jit_pkt = packet.clone();
        // Points at `jit_pkt`, whose heap buffer stays put.
        let mut jit_mbuff = mbuff_for(&jit_pkt);
        let mut run_rbpf_jit = || {
            // SAFETY: rbpf's JIT does not check memory accesses. This
            // program's accesses were just checked by rbpf's interpreter
            // (and by our verifier) on the same packet layout: the
            // packet, the stack and `TABLE`, all live for the call.
            unsafe {
                rvm.execute_program_jit(&mut jit_pkt, &mut jit_mbuff)
                    .expect("rbpf JIT runs")
            }
        };
        assert_eq!(run_rbpf_jit(), ours, "{}: rbpf JIT", case.name);

        let mut group = c.benchmark_group(case.name);
        group.bench_function("exo_interp", |b| b.iter(|| run_ours(&mut vm, &mut maps)));
        let mut t = [Duration::ZERO; 4];
        t[0] = time(rounds, || run_ours(&mut vm, &mut maps));

        #[cfg(all(
            feature = "jit",
            feature = "std",
            any(target_arch = "x86_64", target_arch = "aarch64"),
            target_os = "linux"
        ))]
        {
            let jit = exo_bpf::JitProgram::compile_host(&program).expect("JIT compiles");
            let mut ctx = [0u8; 16];
            let mut pkt = packet.clone();
            let mut run_jit = |vm: &mut Vm, maps: &mut MapSet| {
                vm.run_jit(
                    &jit,
                    Input::context(&mut ctx)
                        .with_packet(&mut pkt)
                        .with_maps(maps),
                )
                .expect("runs")
            };
            assert_eq!(run_jit(&mut vm, &mut maps), ours);
            group.bench_function("exo_jit", |b| b.iter(|| run_jit(&mut vm, &mut maps)));
            t[1] = time(rounds, || run_jit(&mut vm, &mut maps));
        }

        let rvm_interp = rbpf_vm(&case.theirs);
        group.bench_function("rbpf_interp", |b| {
            b.iter(|| rvm_interp.execute_program(&packet, &mbuff).expect("runs"))
        });
        t[2] = time(rounds, || {
            rvm_interp.execute_program(&packet, &mbuff).expect("runs")
        });
        group.bench_function("rbpf_jit", |b| b.iter(&mut run_rbpf_jit));
        t[3] = time(rounds, &mut run_rbpf_jit);
        group.finish();
        table.push((case.name, t));
    }

    println!();
    println!("exo-bpf vs rbpf 0.4 (median time per run; ratio = ours / rbpf, < 1 is faster)");
    println!(
        "{:<14} {:>11} {:>11} {:>7}   {:>11} {:>11} {:>7}",
        "program", "exo interp", "rbpf interp", "ratio", "exo jit", "rbpf jit", "ratio"
    );
    for (name, t) in &table {
        let ns = |d: Duration| d.as_secs_f64() * 1e9;
        let jit = if HOST_JIT {
            (
                format!("{:.0} ns", ns(t[1])),
                format!("{:.2}", ns(t[1]) / ns(t[3])),
            )
        } else {
            ("-".into(), "-".into())
        };
        println!(
            "{:<14} {:>8.0} ns {:>8.0} ns {:>7.2}   {:>11} {:>8.0} ns {:>7}",
            name,
            ns(t[0]),
            ns(t[2]),
            ns(t[0]) / ns(t[2]),
            jit.0,
            ns(t[3]),
            jit.1
        );
    }

    verifier_scaling(c, &helpers);
}

// ---------------------------------------------------------------------------
// Verifier time and memory against program size

fn verifier_scaling(c: &mut Criterion, helpers: &Helpers) {
    let mut maps = MapSet::new();
    maps.insert(Box::new(exo_bpf::HashMap::new(4, 8, 64).unwrap()));
    let config = Config {
        helpers,
        maps: &maps,
        context: ContextLayout::default(),
    };
    let rounds = if smoke() { 3 } else { 15 };
    let mut rows = Vec::new();
    let mut group = c.benchmark_group("verify");
    for n in [100usize, 1_000, 10_000] {
        let code = big_program(n);
        let slots = code.len() / 8;
        let stats = exo_bpf::verify(&code, &config).expect("verifies");
        let (result, peak) = counting::peak_of(|| exo_bpf::verify(&code, &config));
        result.expect("verifies");
        group.bench_function(format!("{n}"), |b| {
            b.iter(|| exo_bpf::verify(black_box(&code), &config).expect("verifies"))
        });
        let t = time(rounds, || {
            exo_bpf::verify(&code, &config)
                .expect("verifies")
                .instructions as u64
        });
        rows.push((n, slots, t, peak, stats));
    }
    group.finish();
    println!();
    println!("verifier: time and peak heap against program size");
    println!(
        "{:>8} {:>8} {:>12} {:>10} {:>14} {:>14} {:>7} {:>6}",
        "target", "slots", "time", "ns/insn", "peak heap", "estimate", "states", "loops"
    );
    for (n, slots, t, peak, stats) in rows {
        println!(
            "{:>8} {:>8} {:>9.1} us {:>10.1} {:>8} bytes {:>8} bytes {:>7} {:>6}",
            n,
            slots,
            t.as_secs_f64() * 1e6,
            t.as_secs_f64() * 1e9 / slots as f64,
            peak,
            stats.peak_bytes_estimate(),
            stats.peak_states,
            stats.loops
        );
    }
}

fn config() -> Criterion {
    if smoke() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(100))
            .without_plots()
    } else {
        Criterion::default()
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500))
            .without_plots()
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
