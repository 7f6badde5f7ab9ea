//! Fuzz target: arbitrary bytes into an eBPF program for `exo-bpf`; every
//! program the verifier accepts runs on the interpreter and on the JIT
//! with the same input, and the two must agree.
//!
//! Input layout: bytes 0..32 are the packet, 32..48 the context's two
//! argument words (the first 16 context bytes are the packet bounds the
//! runtime fills in), and the rest is the program (cut to whole
//! instructions, with an `exit` appended so more inputs verify). If the
//! first packet byte is odd, each 8-byte chunk of the program is instead
//! *shaped* into a plausible instruction (a valid opcode, registers in
//! range, small offsets, known helper ids and map indices), so that far
//! more inputs get past the verifier; the raw form still covers the
//! decoder and the verifier's refusals.
//!
//! Oracles (any violation aborts the run):
//! * verifying, loading and JIT-compiling never panic;
//! * interpreter and JIT return the same `r0` or the same error;
//! * they leave the same context and packet bytes;
//! * they leave the same contents in every map (an array, a hash and a
//!   ring buffer map are available to the program).
//!
//! `cargo +nightly fuzz run bpf_differential -- -runs=200000`
#![no_main]

use exo_bpf::{
    ArrayMap, Config, ContextLayout, HashMap, Helpers, Input, MapSet, PacketFields, Program,
    RingBufMap, Vm,
};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicUsize, Ordering};

const CTX: ContextLayout = ContextLayout {
    size: 32,
    writable: true,
    packet: Some(PacketFields {
        data: 0,
        data_end: 8,
        writable: true,
    }),
};

fn maps() -> MapSet {
    let mut maps = MapSet::new();
    maps.insert(Box::new(ArrayMap::new(8, 4).unwrap()));
    maps.insert(Box::new(HashMap::preallocated(4, 8, 8).unwrap()));
    maps.insert(Box::new(RingBufMap::new(4096).unwrap()));
    maps
}

fn snapshot(maps: &MapSet) -> Vec<Vec<u8>> {
    (0..maps.len() as u32)
        .map(|i| maps.get(i).unwrap().values().to_vec())
        .collect()
}

/// Every opcode the runtime implements (but `lddw`, added separately).
const OPCODES: &[u8] = &[
    // ALU64 and ALU32, immediate and register.
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77,
    0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0x04, 0x0c, 0x14, 0x1c, 0x24,
    0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c, 0xa4,
    0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0xd7,
    // JMP and JMP32.
    0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d,
    0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x16, 0x1e, 0x26, 0x2e, 0x36, 0x3e, 0x56,
    0x5e, 0xa6, 0xae, 0xc6, 0xce, 0x85, 0x95,
    // Loads, sign-extending loads, stores, atomics.
    0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b,
    0xc3, 0xdb,
];

const HELPERS: [i32; 11] = [1, 2, 3, 8, 130, 131, 132, 133, 134, 2048, 2049];
const ATOMICS: [i32; 10] = [0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1];

fn insn(out: &mut Vec<u8>, op: u8, dst: u8, src: u8, off: i16, imm: i32) {
    out.extend_from_slice(&[op, dst | src << 4]);
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&imm.to_le_bytes());
}

/// Shapes each 8-byte chunk into a plausible instruction, after a
/// prologue that initialises r0 and r2-r8 to zero, keeps the context
/// pointer in r9 and zeroes the top 64 stack bytes. Arithmetic and jumps
/// use r0-r8; loads and stores go through r10 (the stack) or r9 (the
/// context, whose bytes 0..16 hold the packet bounds) at offsets inside
/// them, or through any register (a loaded packet or map value pointer).
fn shape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 160);
    insn(&mut out, 0xbf, 9, 1, 0, 0);
    for r in [0, 2, 3, 4, 5, 6, 7, 8] {
        insn(&mut out, 0xb7, r, 0, 0, 0);
    }
    for k in 1..=8 {
        insn(&mut out, 0x7a, 10, 0, -8 * k, 0);
    }
    for c in raw.chunks_exact(8) {
        let (dst, src) = ((c[1] & 0x0f) % 9, (c[1] >> 4) % 9);
        if c[0] >= 0xf0 {
            // lddw: a map handle, or a constant.
            let (src, imm) = if c[3] & 1 == 0 {
                (1u8, i32::from(c[4] % 3))
            } else {
                (0, i32::from_le_bytes([c[4], c[5], c[6], c[7]]))
            };
            insn(&mut out, 0x18, dst, src, 0, imm);
            insn(&mut out, 0, 0, 0, 0, i32::from(c[2]));
            continue;
        }
        let op = OPCODES[usize::from(c[0]) % OPCODES.len()];
        let class = op & 0x07;
        let mut off = i16::from(c[2] as i8);
        let mut imm = match c[3] % 4 {
            0 => i32::from(c[4] as i8),
            1 => i32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            2 => i32::from(c[4] % 64),
            _ => i32::from(c[4] % 16) * 8 - 64,
        };
        let (mut dst, mut src) = (dst, src);
        match op {
            0x85 => imm = HELPERS[usize::from(c[4]) % HELPERS.len()],
            0xd4 | 0xdc | 0xd7 => imm = [16, 32, 64][usize::from(c[4]) % 3],
            0xc3 | 0xdb => imm = ATOMICS[usize::from(c[4]) % ATOMICS.len()],
            _ => {}
        }
        if class == 0x05 || class == 0x06 {
            // Mostly short forward jumps; sometimes a short loop back.
            off = if c[2] & 0x80 == 0 {
                i16::from(c[2] % 8)
            } else {
                -i16::from(c[2] % 8) - 1
            };
        }
        if matches!(class, 0x01..=0x03) {
            let bytes: i16 = [4, 2, 1, 8][usize::from(op >> 3 & 3)];
            let base = match c[5] % 4 {
                0 | 1 => 10,
                2 => 9,
                _ => (c[5] >> 2) % 10,
            };
            off = match base {
                // Inside the zeroed 64 bytes, aligned.
                10 => -bytes * (i16::from(c[2]) % (64 / bytes) + 1),
                // Loads anywhere in the context; stores past the packet
                // bounds.
                9 if class == 0x01 => bytes * (i16::from(c[2]) % (32 / bytes)),
                9 => 16 + bytes * (i16::from(c[2]) % (16 / bytes)),
                _ => bytes * (i16::from(c[2]) % 4),
            };
            if class == 0x01 {
                src = base;
            } else {
                dst = base;
            }
        }
        insn(&mut out, op, dst, src, off, imm);
    }
    out
}

static RUNS: AtomicUsize = AtomicUsize::new(0);
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);

fuzz_target!(|data: &[u8]| {
    if data.len() < 48 {
        return;
    }
    let (packet_in, rest) = data.split_at(32);
    let (args, code) = rest.split_at(16);
    let mut code = if packet_in[0] & 1 == 1 {
        shape(code)
    } else {
        code[..code.len() / 8 * 8].to_vec()
    };
    code.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);

    let helpers = Helpers::with_maps();
    let verify_maps = maps();
    let config = Config {
        helpers: &helpers,
        maps: &verify_maps,
        context: CTX,
    };
    let runs = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    if runs.is_power_of_two() && std::env::var_os("BPF_FUZZ_STATS").is_some() {
        let accepted = ACCEPTED.load(Ordering::Relaxed);
        eprintln!("bpf_differential: {accepted} of {runs} programs verified and ran");
    }
    let Ok(program) = Program::load(&code, &config) else {
        return;
    };
    ACCEPTED.fetch_add(1, Ordering::Relaxed);
    let jit = exo_bpf::JitProgram::compile_host(&program).expect("a loaded program JIT-compiles");

    let run = |jitted: bool| {
        let mut maps = maps();
        let mut ctx = [0u8; 32];
        ctx[16..].copy_from_slice(args);
        let mut packet = packet_in.to_vec();
        let mut vm = Vm::new().with_budget(20_000);
        let input = Input::context(&mut ctx)
            .with_packet(&mut packet)
            .with_maps(&mut maps);
        let r = if jitted {
            vm.run_jit(&jit, input)
        } else {
            vm.run(&program, input)
        };
        (r, ctx, packet, snapshot(&maps))
    };
    let interpreted = run(false);
    let jitted = run(true);
    assert_eq!(interpreted.0, jitted.0, "result differs");
    assert_eq!(interpreted.1, jitted.1, "context differs");
    assert_eq!(interpreted.2, jitted.2, "packet differs");
    assert_eq!(interpreted.3, jitted.3, "maps differ");
});
