//! Loading a program: verify, then compile once.

use alloc::vec::Vec;

use crate::compile::{self, Op};
use crate::context::ContextLayout;
use crate::decode::DecodeError;
use crate::helpers::Helpers;
use crate::maps::MapSet;
use crate::signing::{Signature, SignatureError, SigningPolicy};
use crate::verifier::{self, VerifyError};

/// What a program is loaded against: the helpers it may call, the maps its
/// `lddw`s name, and its context's layout.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    /// Callable helpers.
    pub helpers: &'a Helpers,
    /// Maps, by index (the "fd" of `lddw rX, map`).
    pub maps: &'a MapSet,
    /// Shape of the context `r1` points at.
    pub context: ContextLayout,
}

/// Why an instruction could not be compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileErrorKind {
    /// A jump or call target outside the program.
    #[error("jump target out of range")]
    JumpOutOfRange,
    /// No helper is registered under this id.
    #[error("unknown helper {0}")]
    UnknownHelper(i32),
    /// No map has this fd/index.
    #[error("unknown map {0}")]
    UnknownMap(i32),
    /// The map does not support direct value addresses, or the offset is
    /// past its value.
    #[error("map {0} has no direct value at that offset")]
    NoDirectValue(i32),
    /// A valid instruction this runtime does not implement (kfunc calls,
    /// legacy packet loads, variable and code addresses).
    #[error("unsupported instruction")]
    Unsupported,
}

/// A compilation failure at a slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index}: {kind}")]
pub struct CompileError {
    /// Slot index.
    pub index: usize,
    /// What is wrong.
    pub kind: CompileErrorKind,
}

/// Why a program could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Malformed bytecode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The verifier refused it.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// It could not be compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The signing policy refused it (checked before verification).
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// A loaded program, ready to run on a [`crate::Vm`].
#[derive(Clone, Debug)]
pub struct Program {
    ops: Vec<Op>,
    context: ContextLayout,
}

impl Program {
    /// Verifies and compiles `bytecode`.
    ///
    /// # Errors
    /// Any [`LoadError`].
    pub fn load(bytecode: &[u8], config: &Config<'_>) -> Result<Program, LoadError> {
        verifier::verify(bytecode, config)?;
        Program::load_unverified(bytecode, config)
    }

    /// Checks `signature` against `policy`, then verifies and compiles
    /// `bytecode`. Nothing is verified unless the signature check passes.
    ///
    /// # Errors
    /// [`LoadError::Signature`] first, then as [`Program::load`].
    pub fn load_signed(
        bytecode: &[u8],
        signature: Option<&Signature>,
        policy: &SigningPolicy,
        config: &Config<'_>,
    ) -> Result<Program, LoadError> {
        policy.check_program(bytecode, signature)?;
        Program::load(bytecode, config)
    }

    /// Compiles `bytecode` without verifying it. Running it is still memory
    /// safe (every access is checked at run time), but it may fault, read
    /// stale stack bytes or run until the budget is spent.
    ///
    /// # Errors
    /// [`LoadError::Decode`] or [`LoadError::Compile`].
    pub fn load_unverified(bytecode: &[u8], config: &Config<'_>) -> Result<Program, LoadError> {
        let ops = compile::compile(bytecode, config.helpers, config.maps)?;
        Ok(Program {
            ops,
            context: config.context,
        })
    }

    /// Slots in the program.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ops.len() - 1
    }

    /// Whether the program is empty (never true for a loaded program).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The context layout it was loaded for.
    #[must_use]
    pub fn context_layout(&self) -> ContextLayout {
        self.context
    }

    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }
}
