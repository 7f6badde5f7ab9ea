//! The BPF runtime's JIT at user level on bare metal: the libOS's
//! executable memory is frames this environment maps writable, fills,
//! and re-protects read-execute (W^X through `PROTECT`, with the
//! instruction cache synchronised on aarch64). Two programs — a counted
//! loop and an array-map counter through a helper — run on the
//! interpreter and JIT-compiled; their results must agree, and the run
//! reports how long each engine took.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

use exo_bpf::jit::{CodeMemory, ExecutableCode, sync_instruction_cache};
use exo_bpf::{
    ArrayMap, Config, ContextLayout, Helpers, Input, JitError, JitProgram, MapSet, Program, Vm,
};
use exo_sys::{access, println};

/// Where JIT code is mapped, one run of pages after another.
static NEXT_CODE: AtomicU64 = AtomicU64::new(exo_sys::user_address(0x60_0000_0000));
const PAGE: u64 = 4096;
const RUNS: u64 = 200;

/// Machine code in pages of ours, mapped read-execute.
#[derive(Debug)]
struct ExoCode {
    base: u64,
    pages: u64,
    frames: u64,
}

// SAFETY: `entry` is the first byte of the code `install` copied; the
// pages stay mapped read-execute and unchanged until `drop`.
unsafe impl ExecutableCode for ExoCode {
    fn entry(&self) -> *const u8 {
        self.base as *const u8
    }
}

impl Drop for ExoCode {
    fn drop(&mut self) {
        for i in 0..self.pages {
            let _ = exo_sys::unmap(self.base + i * PAGE);
        }
        let _ = exo_sys::frame_free(self.frames);
    }
}

/// Executable memory from the exokernel's secure bindings.
struct ExoCodeMemory;

// SAFETY: `install` copies the bytes verbatim into fresh pages mapped
// only here, synchronises the instruction cache over them, and makes them
// read-execute (no longer writable) before handing them out.
unsafe impl CodeMemory for ExoCodeMemory {
    fn install(&self, code: &[u8]) -> Result<Box<dyn ExecutableCode>, JitError> {
        let pages = (code.len() as u64).div_ceil(PAGE).max(1);
        let frames = exo_sys::frame_alloc(pages).map_err(|_| JitError::NoMemory)?;
        let base = NEXT_CODE.fetch_add((pages + 1) * PAGE, Ordering::Relaxed);
        let installed = ExoCode {
            base,
            pages,
            frames,
        };
        for i in 0..pages {
            exo_sys::map(frames, i, base + i * PAGE, access::WRITE)
                .map_err(|_| JitError::NoMemory)?;
        }
        // SAFETY: [base, base + pages × PAGE) was just mapped writable to
        // frames we hold, and nothing else refers to it.
        let target = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, code.len()) };
        target.copy_from_slice(code);
        sync_instruction_cache(target);
        for i in 0..pages {
            exo_sys::protect(base + i * PAGE, access::EXECUTE).map_err(|_| JitError::NoMemory)?;
        }
        Ok(Box::new(installed))
    }
}

/// One instruction: opcode, registers, offset, immediate.
const fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let o = off.to_le_bytes();
    let i = imm.to_le_bytes();
    [
        op,
        (dst & 0xf) | (src << 4),
        o[0],
        o[1],
        i[0],
        i[1],
        i[2],
        i[3],
    ]
}

/// `r0 = 0; for (r1 = 0; r1 < 10000; r1++) r0 += r1; return r0`.
const LOOP: [[u8; 8]; 6] = [
    insn(0xb7, 0, 0, 0, 0),      // mov64 r0, 0
    insn(0xb7, 1, 0, 0, 0),      // mov64 r1, 0
    insn(0x0f, 0, 1, 0, 0),      // add64 r0, r1
    insn(0x07, 1, 0, 0, 1),      // add64 r1, 1
    insn(0xa5, 1, 0, -3, 10000), // jlt r1, 10000, -3
    insn(0x95, 0, 0, 0, 0),      // exit
];

/// `key = 0; v = map_lookup_elem(map 0, &key); if v { *v += 5 (atomic);
/// return *v } return 0`.
const COUNTER: [[u8; 8]; 13] = [
    insn(0x62, 10, 0, -4, 0), // stw [r10 - 4], 0
    insn(0x18, 1, 1, 0, 0),   // lddw r1, map 0 (pseudo map index)
    insn(0x00, 0, 0, 0, 0),
    insn(0xbf, 2, 10, 0, 0), // mov64 r2, r10
    insn(0x07, 2, 0, 0, -4), // add64 r2, -4
    insn(0x85, 0, 0, 0, 1),  // call map_lookup_elem
    insn(0x15, 0, 0, 4, 0),  // jeq r0, 0, +4
    insn(0xb7, 1, 0, 0, 5),  // mov64 r1, 5
    insn(0xdb, 0, 1, 0, 0),  // atomic add64 [r0], r1
    insn(0x79, 0, 0, 0, 0),  // ldxdw r0, [r0]
    insn(0x95, 0, 0, 0, 0),  // exit
    insn(0xb7, 0, 0, 0, 0),  // mov64 r0, 0
    insn(0x95, 0, 0, 0, 0),  // exit
];

/// Runs `f` `RUNS` times; its last result and the time taken.
fn timed(
    mut f: impl FnMut() -> Result<u64, exo_bpf::ExecError>,
) -> (Result<u64, exo_bpf::ExecError>, u64) {
    let start = exo_sys::timestamp();
    let mut last = f();
    for _ in 1..RUNS {
        last = f();
    }
    (last, exo_sys::timestamp() - start)
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let helpers = Helpers::with_maps();
    let mut maps = MapSet::new();
    let Ok(array) = ArrayMap::new(8, 1) else {
        return 1;
    };
    maps.insert(Box::new(array));
    let mut failures = 0;
    for (name, code) in [
        ("loop", LOOP.as_flattened()),
        ("map counter", COUNTER.as_flattened()),
    ] {
        let config = Config {
            helpers: &helpers,
            maps: &maps,
            context: ContextLayout::default(),
        };
        let program = match Program::load(code, &config) {
            Ok(p) => p,
            Err(e) => {
                println!("bpfjit: {name} rejected: {e}");
                return 2;
            }
        };
        let jit = match JitProgram::compile(&program, &ExoCodeMemory) {
            Ok(j) => j,
            Err(e) => {
                println!("bpfjit: {name} did not compile: {e}");
                return 3;
            }
        };
        let mut vm = Vm::new();
        let (interpreted, slow) = timed(|| vm.run(&program, Input::default().with_maps(&mut maps)));
        let (jitted, fast) = timed(|| vm.run_jit(&jit, Input::default().with_maps(&mut maps)));
        // The counter keeps counting across both engines: 5 per run.
        let expected = if name == "loop" {
            (Ok(49_995_000), Ok(49_995_000))
        } else {
            (Ok(5 * RUNS), Ok(10 * RUNS))
        };
        let agree = (interpreted, jitted) == expected;
        if !agree {
            failures += 1;
        }
        println!(
            "bpfjit {env}: {name}: interpreter {interpreted:?}, JIT {jitted:?} ({} bytes of code), {}: {RUNS} runs in {slow} vs {fast} {} ({}.{:02}x)",
            jit.code_len(),
            if agree { "agree" } else { "DISAGREE" },
            exo_sys::TIMESTAMP_UNIT,
            slow / fast.max(1),
            slow * 100 / fast.max(1) % 100
        );
    }
    println!("bpfjit: done");
    failures
}
