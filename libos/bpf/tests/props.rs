//! Properties over random programs:
//!
//! * arbitrary bytes never make the decoder or the verifier panic;
//! * any program the verifier accepts runs without a memory fault (or any
//!   other runtime error but budget exhaustion).
//!
//! Purely random bytes are almost never accepted, so the second property
//! draws from a generator of plausible programs: stack, context, packet and
//! map accesses (some in bounds, some not, some checked, some not), branches,
//! arithmetic of every kind and counted loops. `accepted_programs_are_common`
//! makes sure the property is not vacuously true.

mod common;

use common::*;
use exo_bpf::{
    ContextLayout, ExecError, HashMap, Helpers, Input, MapSet, PacketFields, Program, Vm,
};
use proptest::prelude::*;

const CTX: ContextLayout = ContextLayout {
    size: 24,
    writable: true,
    packet: Some(PacketFields {
        data: 0,
        data_end: 8,
        writable: true,
    }),
};

/// xorshift64*: enough to drive the generator from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const ALU: [u8; 13] = [
    ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH,
];
const JMP: [u8; 11] = [JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, JLT, JLE, JSLT, JSLE];
const SIZES: [u8; 4] = [B, H, W, DW];

/// Registers: r1 context, r6 = r10 - 32, r7 packet start, r8 packet end,
/// r9 scratch packet pointer; arithmetic uses r0 and r2-r5.
fn plausible(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut p = vec![
        ldx(DW, 7, 1, 0),
        ldx(DW, 8, 1, 8),
        mov64(0, 0),
        mov64(2, 1),
        mov64(3, -1),
        mov64(4, 7),
        mov64(5, 0),
        mov64_reg(6, 10),
        alu64_imm(ADD, 6, -32),
    ];
    // Most stack reads should find initialised bytes (a few go deeper).
    for slot in 1..=9 {
        p.push(st(DW, 10, -8 * slot, slot.into()));
    }
    let scalar = [0u8, 2, 3, 4, 5];
    let imm = |rng: &mut Rng| -> i32 {
        match rng.below(4) {
            0 => rng.below(8) as i32,
            1 => rng.pick(&[0, 1, -1, 31, 32, 63, 64, i32::MIN, i32::MAX]),
            _ => rng.next() as i32,
        }
    };
    for _ in 0..5 + rng.below(40) {
        let d = rng.pick(&scalar);
        let s = rng.pick(&scalar);
        match rng.below(20) {
            0 | 1 | 16 | 17 | 18 => {
                let op = rng.pick(&ALU);
                let k = imm(&mut rng);
                p.push(if op == NEG {
                    raw(0x87, d, 0, 0, 0)
                } else {
                    alu64_imm(op, d, k)
                });
            }
            2 => {
                let op = rng.pick(&ALU);
                p.push(if op == NEG {
                    raw(0x84, d, 0, 0, 0)
                } else {
                    alu32_reg(op, d, s)
                });
            }
            3 => {
                let op = rng.pick(&ALU);
                if op != NEG {
                    p.push(alu64_reg(op, d, s));
                }
            }
            4 => p.push(match rng.below(4) {
                0 => signed_alu(rng.pick(&[DIV, MOD]), rng.below(2) == 0, d, Err(s)),
                1 => movsx(true, rng.pick(&[8, 16, 32]), d, s),
                2 => endian(rng.below(2) == 0, rng.pick(&[16, 32, 64]), d),
                _ => bswap(rng.pick(&[16, 32, 64]), d),
            }),
            5 => {
                let off = -8 * (1 + rng.below(8) as i16) + rng.below(3) as i16 - 1;
                let size = rng.pick(&SIZES);
                p.push(if rng.below(2) == 0 {
                    st(size, 10, off, imm(&mut rng))
                } else {
                    stx(size, 10, s, off)
                });
            }
            6 => {
                let off = -8 * (1 + rng.below(8) as i16);
                p.push(ldx(rng.pick(&SIZES), d, 10, off));
            }
            7 => {
                let off = rng.below(40) as i16 - 36;
                let size = rng.pick(&SIZES);
                p.push(match rng.below(3) {
                    0 => ldx(size, d, 6, off),
                    1 => stx(size, 6, s, off),
                    _ => ldxsx(rng.pick(&[B, H, W]), d, 6, off),
                });
            }
            8 => {
                let off = rng.below(28) as i16;
                p.push(if rng.below(4) == 0 {
                    stx(rng.pick(&SIZES), 1, s, off)
                } else {
                    ldx(rng.pick(&SIZES), d, 1, off)
                });
            }
            9 => {
                let k = rng.below(12) as i32;
                let at = rng.below(12) as i16;
                p.extend([
                    mov64_reg(9, 7),
                    alu64_imm(ADD, 9, k),
                    jmp_reg(rng.pick(&[JGT, JGE]), 9, 8, 1),
                    if rng.below(3) == 0 {
                        stx(B, 7, d, at)
                    } else {
                        ldx(rng.pick(&SIZES), d, 7, at)
                    },
                ]);
            }
            10 | 11 => {
                let off = rng.below(7) as i16;
                p.push(match rng.below(3) {
                    0 => jmp_reg(rng.pick(&JMP), d, s, off),
                    1 => jmp32_imm(rng.pick(&JMP), d, imm(&mut rng), off),
                    _ => jmp_imm(rng.pick(&JMP), d, imm(&mut rng), off),
                });
            }
            12 => {
                let check = rng.below(4) != 0;
                p.extend([
                    st(W, 10, -36, rng.below(4) as i32),
                    lddw_pseudo(1, 1, 0, 0),
                    mov64_reg(2, 10),
                    alu64_imm(ADD, 2, -36),
                    call(1),
                    if check {
                        jmp_imm(JEQ, 0, 0, 2)
                    } else {
                        mov64(2, 0)
                    },
                    ldx(DW, 3, 0, rng.below(10) as i16),
                    stx(DW, 0, 3, 0),
                    mov64(0, 0),
                    // The call clobbered r1-r5: restore what the rest assumes.
                    mov64_reg(1, 10),
                    alu64_imm(ADD, 1, -40),
                    mov64(2, 1),
                    mov64(3, 2),
                    mov64(4, 3),
                    mov64(5, 4),
                ]);
            }
            13 => {
                let op = rng.pick(&[
                    0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, XCHG, CMPXCHG,
                ]);
                let off = -8 * (1 + rng.below(8) as i16);
                p.push(atomic(rng.pick(&[W, DW]), op, 10, s, off));
            }
            14 => {
                let n = 1 + rng.below(20) as i32;
                p.extend([
                    mov64(4, 0),
                    alu64_reg(ADD, 0, 4),
                    alu64_imm(ADD, 4, 1),
                    jmp_imm(rng.pick(&[JLT, JNE, JLE]), 4, n, -3),
                ]);
            }
            _ => p.push(lddw(d, rng.next())),
        }
    }
    // Landing pads for forward jumps near the end.
    for _ in 0..7 {
        p.push(mov64(0, 0));
    }
    p.push(exit());
    prog(&p)
}

fn maps() -> MapSet {
    let mut maps = MapSet::new();
    maps.insert(Box::new(HashMap::new(4, 16, 8).unwrap()));
    maps
}

/// Loads `code` verified; if accepted, runs it on a few inputs and fails on
/// any runtime error but budget exhaustion. Returns whether it was
/// accepted.
fn check(code: &[u8]) -> Result<bool, String> {
    let helpers = Helpers::with_maps();
    let mut maps = maps();
    let Ok(program) = Program::load(code, &config(&helpers, &maps, CTX)) else {
        return Ok(false);
    };
    for len in [0usize, 3, 16, 64] {
        let mut ctx = [0x5au8; 24];
        let mut packet: Vec<u8> = (0..len as u8).collect();
        let input = Input::context(&mut ctx)
            .with_packet(&mut packet)
            .with_maps(&mut maps);
        let result = Vm::new().with_budget(100_000).run(&program, input);
        match result {
            Ok(_) | Err(ExecError::BudgetExhausted { .. }) => {}
            Err(e) => return Err(format!("accepted program failed at run time: {e}")),
        }
        jit_agrees(&program, len, result, &ctx, &packet, &maps)?;
    }
    Ok(true)
}

/// In builds with the JIT: runs `program` JIT-compiled on the same input
/// as the interpreter run that gave `result` and left `ctx`, `packet` and
/// `maps` behind, and compares all four.
#[cfg(all(
    feature = "jit",
    feature = "std",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
))]
fn jit_agrees(
    program: &Program,
    len: usize,
    result: Result<u64, ExecError>,
    ctx: &[u8],
    packet: &[u8],
    maps: &MapSet,
) -> Result<(), String> {
    // The interpreter's map state before this run: replay the earlier runs.
    let mut jit_maps = self::maps();
    let jit = exo_bpf::JitProgram::compile_host(program).map_err(|e| e.to_string())?;
    let mut jit_result = Err(ExecError::PacketTooLarge);
    let (mut jit_ctx, mut jit_packet) = ([0u8; 24], Vec::new());
    for l in [0usize, 3, 16, 64].into_iter().take_while(|&l| l <= len) {
        jit_ctx = [0x5au8; 24];
        jit_packet = (0..l as u8).collect();
        let input = Input::context(&mut jit_ctx)
            .with_packet(&mut jit_packet)
            .with_maps(&mut jit_maps);
        jit_result = Vm::new().with_budget(100_000).run_jit(&jit, input);
    }
    let values = |m: &MapSet| m.get(0).map(|m| exo_bpf::Map::values(m).to_vec());
    if (jit_result, &jit_ctx[..], &jit_packet[..], values(&jit_maps))
        != (result, ctx, packet, values(maps))
    {
        return Err(format!(
            "JIT and interpreter disagree: {jit_result:?} vs {result:?}"
        ));
    }
    Ok(())
}

#[cfg(not(all(
    feature = "jit",
    feature = "std",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
)))]
fn jit_agrees(
    _: &Program,
    _: usize,
    _: Result<u64, ExecError>,
    _: &[u8],
    _: &[u8],
    _: &MapSet,
) -> Result<(), String> {
    Ok(())
}

#[test]
fn accepted_programs_are_common() {
    let mut accepted = 0;
    let total = 3000u64;
    for seed in 0..total {
        let code = plausible(seed);
        match check(&code) {
            Ok(a) => accepted += u64::from(a),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    println!("{accepted} of {total} generated programs accepted");
    let helpers = Helpers::with_maps();
    let maps = maps();
    let mut reasons = std::collections::BTreeMap::new();
    for seed in 0..total {
        if let Err(e) = exo_bpf::verify(&plausible(seed), &config(&helpers, &maps, CTX)) {
            let key = format!("{:?}", e.kind);
            let key = key.split(['(', '{']).next().unwrap_or("").to_string();
            *reasons.entry(key).or_insert(0) += 1;
        }
    }
    println!("refusals by reason: {reasons:?}");
    assert!(
        accepted * 10 >= total,
        "only {accepted} of {total} accepted: the property would be vacuous"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verified_programs_never_fault(seed: u64) {
        let code = plausible(seed);
        let result = check(&code);
        prop_assert!(result.is_ok(), "{:?}", result);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let helpers = Helpers::with_maps();
        let maps = maps();
        let cfg = config(&helpers, &maps, CTX);
        let _ = exo_bpf::decode(&bytes);
        if exo_bpf::verify(&bytes, &cfg).is_ok() {
            prop_assert!(check(&bytes).is_ok());
        }
    }

    /// Mutating an accepted program (one slot, random bytes) never panics
    /// anything, and what is still accepted still runs cleanly.
    #[test]
    fn mutated_programs_never_panic(seed: u64, slot: usize, bytes: [u8; 8]) {
        let mut code = plausible(seed);
        let slots = code.len() / 8;
        let at = slot % slots * 8;
        code[at..at + 8].copy_from_slice(&bytes);
        prop_assert!(check(&code).is_ok(), "{:?}", check(&code));
    }
}
