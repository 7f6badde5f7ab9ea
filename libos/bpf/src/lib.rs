//! An embeddable eBPF runtime: the RFC 9669 instruction set, a streaming
//! verifier, an interpreter, x86_64 and AArch64 JITs and maps, in `no_std` Rust
//! that is safe outside one small module of the JIT.
//!
//! # Design
//!
//! * **Instruction set** ([`isa`], [`decode`](mod@decode)): every instruction of RFC 9669
//!   (including the v4 additions: signed division and modulo, sign-extending
//!   moves and loads, unconditional byte swaps, `gotol`, and all atomics) is
//!   one value of the typed [`Insn`] enum. Decoding refuses unknown opcodes,
//!   registers above `r10`, non-zero reserved fields and a truncated `lddw`
//!   with a [`DecodeError`] that names the slot index.
//! * **Verifier** ([`verifier`]): a single forward pass per function that
//!   keeps register and stack state only where control flow merges
//!   (recorded at forward-jump targets, dropped once reached), types
//!   registers as scalars or pointers with known bits and bounds, accepts
//!   only loops that follow a documented counter rule, and refuses anything
//!   else with a [`VerifyError`] naming the slot index and the reason.
//! * **Loading** ([`Program::load`]): verification, then a one-time lowering
//!   into a compact form with one fully-specialised op per instruction,
//!   absolute jump targets, `lddw` folded, and helper ids resolved to
//!   function pointers.
//! * **Interpreter** ([`Vm`]): 11 registers, a 512-byte stack per frame,
//!   BPF-to-BPF calls up to 8 frames deep, an instruction budget, and
//!   arithmetic exactly as the RFC defines it (division by zero gives zero,
//!   modulo zero keeps the dividend, shift amounts are masked).
//! * **Memory** ([`memory`]): programs see virtual addresses that a tiny
//!   region table maps onto Rust slices (context, stack frames, packet, map
//!   values, embedder regions); every access is bounds-checked, so even an
//!   unverified program cannot touch memory it was not lent.
//! * **JIT** ([`jit`], feature `jit`, x86_64 and aarch64 targets): the
//!   lowered ops translated to machine code by a small hand-written
//!   encoder per architecture. Stack, context and packet accesses are
//!   done inline on x86_64 after the same bounds checks the interpreter's
//!   accessors make; every other access, atomics and helper calls leave
//!   the generated code for those accessors, so JIT-compiled programs are
//!   exactly as memory safe as interpreted ones; results,
//!   errors and the instruction budget match the interpreter's exactly
//!   (a differential test and a property test check this).
//! * **Unsafe code**: the crate is `#![deny(unsafe_code)]`, and exactly
//!   one module overrides that: the JIT's `executable` leaf, which owns
//!   the W^X code buffers (`mmap`/`mprotect` on a Linux host, or an
//!   embedder's [`jit::CodeMemory`]), the instruction cache maintenance
//!   aarch64 needs after writing code, and the call into generated code;
//!   every `unsafe` block there carries a `SAFETY` comment. Builds
//!   without the `jit` feature contain no `unsafe` at all.
//! * **Maps** ([`maps`]): array, hash (elastic or pre-allocated), LRU hash,
//!   per-CPU array and hash, a lock-free ring buffer and a time-series map
//!   behind the [`Map`] trait, reachable from programs through Linux's
//!   helper numbers (1–3, 8, 130–134) and two private time-series helpers
//!   ([`Helpers::with_maps`]); the verifier types ring buffer reservations
//!   and makes programs release each exactly once.
//! * **Signing** ([`signing`]): Ed25519 over SHA-256 digests of bytecode or
//!   ELF objects, checked against a [`SigningPolicy`] before verification.
//! * **Attach points** ([`hooks`]): typed hooks (timer tick, system call
//!   entry and exit, GPIO edge, PWM update, IMU sample, tracepoint) with
//!   documented context layouts; programs are verified against a hook's
//!   context when attached, run in attach order when a driver fires the
//!   hook, and may veto or modify the event where the hook says so.
//!   Simulated devices drive them in tests and in the `bpf` tool.
//! * **ELF** ([`crate::elf`]): programs from `clang -target bpf` objects, with
//!   legacy `maps`-section and BTF-defined `.maps` map definitions and their
//!   relocations, and signatures in an `.exo.sig` section.
//!
//! # Example
//!
//! ```
//! use exo_bpf::isa::{AluOp, Insn, Operand, Reg, Width};
//! use exo_bpf::{Config, ContextLayout, Helpers, Input, MapSet, Program, Vm};
//!
//! // r0 = 6 * 7; exit
//! let code = exo_bpf::isa::assemble(&[
//!     Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Operand::Imm(6) },
//!     Insn::Alu { width: Width::W64, op: AluOp::Mul, dst: Reg::R0, src: Operand::Imm(7) },
//!     Insn::Exit,
//! ]);
//! let helpers = Helpers::new();
//! let maps = MapSet::new();
//! let config = Config { helpers: &helpers, maps: &maps, context: ContextLayout::default() };
//! let program = Program::load(&code, &config)?;
//! assert_eq!(Vm::new().run(&program, Input::default())?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `full` (default): `jit` and `std`: the JIT with host (`mmap`) code
//!   memory.
//! * `embedded` (use with `--no-default-features`): the interpreter only.
//!   Everything is allocated at load time: [`Program::load`] builds the
//!   ops, [`Vm::new`] the stack, maps their whole storage when created;
//!   running a program and every map helper allocate nothing, so an
//!   embedder can serve the loads from a fixed pool and then close it.
//!   (In `full`, [`HashMap::new`] makes elastic maps that grow on insert;
//!   see [`maps`].)
//! * `jit`: the JIT (on x86_64 and aarch64 targets; elsewhere it compiles
//!   to nothing), without host code memory (bring a [`jit::CodeMemory`]).
//! * `std`: host conveniences; the runtime itself needs only `alloc`.
//!
//! [`HAS_JIT`] says whether a build contains the JIT.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod btf;
mod compile;
pub mod context;
pub mod decode;
pub mod elf;
pub mod helpers;
pub mod hooks;
pub mod interpreter;
pub mod isa;
#[cfg(all(feature = "jit", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub mod jit;
pub mod maps;
pub mod memory;
pub mod program;
pub mod semantics;
pub mod signing;
pub mod verifier;

pub use context::{ContextLayout, PacketFields};
pub use decode::{DecodeError, DecodeErrorKind, decode};
pub use helpers::{ArgType, Helper, HelperError, HelperFn, HelperProto, Helpers, RetType};
pub use interpreter::{ExecError, Input, Vm};
pub use isa::Insn;
pub use maps::{
    ArrayMap, HashMap, LruHashMap, Map, MapDef, MapError, MapKind, MapSet, PerCpuArrayMap,
    PerCpuHashMap, RingBuf, RingBufConsumer, RingBufMap, TimeSeriesMap,
};
pub use memory::{Memory, MemoryFault, Region};
pub use program::{CompileError, CompileErrorKind, Config, LoadError, Program};
pub use signing::{Signature, SignatureError, SigningPolicy};
pub use verifier::{VerifyError, VerifyErrorKind, VerifyStats, verify};

#[cfg(all(feature = "jit", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub use jit::{JitError, JitProgram};

/// Whether this build contains the JIT compiler (feature `jit` on an
/// x86_64 or aarch64 target).
pub const HAS_JIT: bool = cfg!(all(
    feature = "jit",
    any(target_arch = "x86_64", target_arch = "aarch64")
));
