//! A JIT compiler from the lowered ops to x86_64 or AArch64 machine code.
//!
//! The JIT starts where the interpreter starts: from a loaded (verified
//! and lowered) [`Program`]. Each op becomes a short machine-code
//! sequence (module `x86_64` on x86_64 targets, `aarch64` with its
//! encoder `a64` on aarch64 targets; both share the op analysis and the
//! budget segments of module `analysis` and the callouts of `runtime`);
//! ALU operations, byte swaps, sign extensions, jumps and BPF-to-BPF
//! calls run natively, with RFC 9669's results for division by zero,
//! `MIN / -1` and shift amounts reproduced exactly.
//!
//! # Memory safety
//!
//! Every program address is checked exactly as the interpreter checks
//! it, whether or not the program was verified. On x86_64, loads and
//! stores that fall inside the stack, the context, the packet or the value
//! storage of one of the first eight maps are done inline after the same
//! bounds check [`Memory`](crate::Memory) makes, done in machine code
//! against the host addresses and lengths the run records (re-recorded
//! after every helper call, the only thing that can move a map's
//! storage; an `r10`-relative access inside the frame needs no check
//! while `r10` is the frame pointer, which is then a fact, not a verifier
//! proof); every other address — embedder regions, anything the inline
//! check rejects — and on aarch64 every access but in-frame `r10` ones is
//! a call into module `runtime`, which performs it through the
//! interpreter's accessors, so a bad address is the same
//! [`ExecError::Memory`]. Nothing trusts the verifier's in-bounds proofs,
//! so a verifier bug cannot become a JIT memory-safety bug. Atomics always
//! take the call. Helper calls go through the same trampoline, except
//! `map_lookup_elem` on an array map, which x86_64 does inline (the key
//! read through the inline check, the bound and value size from the
//! run's record), as Linux's JIT does. The instruction budget is
//! charged per straight-line segment with the interpreter's exact
//! outcome, so a JIT-compiled program cannot hang its host either.
//!
//! The one `unsafe` module, `executable`, holds the W^X code buffers
//! (with the instruction cache maintenance aarch64 needs) and the call
//! into generated code.

// The A64 encoder is plain code generation: its unit tests run on every
// host.
#[cfg(any(target_arch = "aarch64", test))]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod a64;
#[cfg(target_arch = "aarch64")]
mod aarch64;
mod analysis;
#[cfg(target_arch = "x86_64")]
mod encoder;
#[allow(unsafe_code)]
mod executable;
mod runtime;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
use aarch64::translate;
#[cfg(target_arch = "x86_64")]
use x86_64::translate;

use alloc::boxed::Box;

#[cfg(all(feature = "std", target_os = "linux"))]
pub use executable::HostCodeMemory;
pub use executable::{CodeMemory, ExecutableCode, sync_instruction_cache};

use crate::compile::Op;
use crate::interpreter::{ExecError, Input, Vm};
use crate::program::Program;

/// Why a program could not be JIT-compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JitError {
    /// An op the JIT does not translate (never produced by the lowering).
    #[error("unsupported operation")]
    Unsupported,
    /// The program has more slots than the JIT addresses.
    #[error("program too large")]
    TooLarge,
    /// The [`CodeMemory`] could not provide executable memory.
    #[error("no executable memory")]
    NoMemory,
}

/// A program compiled to machine code, with the program it came from.
#[derive(Debug)]
pub struct JitProgram {
    program: Program,
    code: Box<dyn ExecutableCode>,
    code_len: usize,
    /// Whether an `lddw` names a map: only then do runs record the maps'
    /// storage for inline access.
    uses_maps: bool,
}

impl JitProgram {
    /// Translates `program` and installs the code through `memory`.
    ///
    /// # Errors
    /// Any [`JitError`].
    pub fn compile(program: &Program, memory: &dyn CodeMemory) -> Result<JitProgram, JitError> {
        let bytes = translate(program.ops())?;
        let code = memory.install(&bytes)?;
        let uses_maps = program
            .ops()
            .iter()
            .any(|op| matches!(op, Op::Lddw { k, .. } if crate::memory::names_map(*k)));
        Ok(JitProgram {
            program: program.clone(),
            code,
            code_len: bytes.len(),
            uses_maps,
        })
    }

    /// [`JitProgram::compile`] with the host's `mmap`.
    ///
    /// # Errors
    /// Any [`JitError`].
    #[cfg(all(feature = "std", target_os = "linux"))]
    pub fn compile_host(program: &Program) -> Result<JitProgram, JitError> {
        JitProgram::compile(program, &HostCodeMemory)
    }

    /// The program it was compiled from.
    #[must_use]
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Bytes of machine code.
    #[must_use]
    pub fn code_len(&self) -> usize {
        self.code_len
    }
}

impl Vm {
    /// Runs JIT-compiled `program` and returns its `r0`: the same result,
    /// error and side effects as [`Vm::run`] on the program it was
    /// compiled from.
    ///
    /// # Errors
    /// Any [`ExecError`].
    pub fn run_jit(
        &mut self,
        program: &JitProgram,
        input: Input<'_, '_>,
    ) -> Result<u64, ExecError> {
        let ops = program.program.ops();
        self.with_memory(&program.program, input, |memory, budget| {
            let mut tables = None;
            let mut env = runtime::Env::new(memory, ops, budget);
            if program.uses_maps {
                env.record_map_shapes(tables.insert(runtime::MapTables::new()));
            }
            let r0 = executable::enter(program.code.as_ref(), &mut env);
            match env.status {
                runtime::STATUS_OK => Ok(r0),
                runtime::STATUS_BUDGET => Err(ExecError::BudgetExhausted {
                    pc: (env.pc + env.remaining) as usize,
                }),
                runtime::STATUS_BAD_PC => Err(ExecError::BadPc {
                    pc: env.pc as usize,
                }),
                _ => Err(env.error.unwrap_or(ExecError::BadPc {
                    pc: env.pc as usize,
                })),
            }
        })
    }
}
