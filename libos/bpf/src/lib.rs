//! An embeddable eBPF runtime: the RFC 9669 instruction set, a streaming
//! verifier, an interpreter and maps, in safe `no_std` Rust.
//!
//! # Design
//!
//! * **Instruction set** ([`isa`], [`decode`]): every instruction of RFC 9669
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
//!   unverified program cannot touch memory it was not lent. The crate is
//!   `#![forbid(unsafe_code)]`.
//! * **Maps** ([`maps`]): array and pre-allocated open-addressing hash maps
//!   behind the [`Map`] trait, reachable from programs through the standard
//!   helpers 1, 2 and 3 ([`Helpers::with_maps`]).
//! * **ELF** ([`crate::elf`]): programs from `clang -target bpf` objects, with
//!   legacy `maps`-section map definitions and their relocations.
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
//! `std` (off by default) is reserved for host conveniences; the runtime
//! itself needs only `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod compile;
pub mod context;
pub mod decode;
pub mod elf;
pub mod helpers;
pub mod interpreter;
pub mod isa;
pub mod maps;
pub mod memory;
pub mod program;
pub mod semantics;
pub mod verifier;

pub use context::{ContextLayout, PacketFields};
pub use decode::{DecodeError, DecodeErrorKind, decode};
pub use helpers::{ArgType, Helper, HelperError, HelperFn, HelperProto, Helpers, RetType};
pub use interpreter::{ExecError, Input, Vm};
pub use isa::Insn;
pub use maps::{ArrayMap, HashMap, Map, MapDef, MapError, MapKind, MapSet};
pub use memory::{Memory, MemoryFault, Region};
pub use program::{CompileError, CompileErrorKind, Config, LoadError, Program};
pub use verifier::{VerifyError, VerifyErrorKind, VerifyStats, verify};
