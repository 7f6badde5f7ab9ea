//! A small in-kernel test framework: named tests, a pass/fail line each, and
//! a summary line the QEMU harness looks for.
//!
//! Tests that need real hardware (interrupts, the timer, page tables) run
//! inside the booted kernel with `test` on the command line; everything else
//! is an ordinary host `cargo test`.

use core::fmt::{self, Write};

/// Why a self-test failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(pub arrayvec::ArrayString<120>);

impl Failure {
    /// A failure with a formatted message (cut at 120 bytes).
    pub fn new(args: fmt::Arguments<'_>) -> Self {
        let mut message = Truncating(arrayvec::ArrayString::new());
        let _ = message.write_fmt(args);
        Self(message.0)
    }
}

/// Writes into an `ArrayString` until it is full, then drops the rest.
struct Truncating<const N: usize>(arrayvec::ArrayString<N>);

impl<const N: usize> Write for Truncating<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.try_push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Fails the enclosing self-test with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::ktest::Failure::new(format_args!($($arg)+)));
        }
    };
}

/// One self-test.
#[derive(Clone, Copy, Debug)]
pub struct KernelTest {
    /// Name printed in the report.
    pub name: &'static str,
    /// The test body.
    pub run: fn() -> Result<(), Failure>,
}

/// Counts from a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
}

impl Summary {
    /// Whether every test passed and there was at least one.
    pub fn success(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "self-tests: {} passed, {} failed",
            self.passed, self.failed
        )
    }
}

/// Runs `tests` in order, writing one line per test and the summary to `out`.
pub fn run_all(tests: &[KernelTest], out: &mut dyn Write) -> Summary {
    let mut summary = Summary::default();
    let _ = writeln!(out, "running {} self-tests", tests.len());
    for test in tests {
        match (test.run)() {
            Ok(()) => {
                summary.passed += 1;
                let _ = writeln!(out, "test {} ... ok", test.name);
            }
            Err(failure) => {
                summary.failed += 1;
                let _ = writeln!(out, "test {} ... FAILED: {}", test.name, failure.0);
            }
        }
    }
    let _ = writeln!(out, "{summary}");
    summary
}

/// The capability self-test both kernels run on their own capability
/// space: derive a narrower window from a fresh environment's capability,
/// mint a token for it and verify it (timed with `counter`), refuse the
/// token with any one bit flipped, refuse amplification, revoke the tree
/// and refuse the token afterwards. `env` must be an id nothing else uses;
/// it is registered and unregistered here. Returns the counter deltas of
/// the mint and the verify.
///
/// # Errors
/// The first check that does not hold.
pub fn capability_tokens(
    caps: &crate::cap::CapSpace,
    root: &crate::cap::RootAuthority,
    env: crate::cap::EnvId,
    counter: impl Fn() -> u64,
) -> Result<(u64, u64), Failure> {
    use crate::cap::{CapError, Capability, Level, Resource, Rights, TOKEN_LEN};
    let fail = |e: CapError| Failure::new(format_args!("{e}"));
    caps.register_env(root, env, Level::HIGHEST).map_err(fail)?;
    let all = Capability::new(
        Resource::Frames {
            first: 0x100,
            count: 64,
        },
        Rights::all(),
        Level::HIGHEST,
    );
    let parent = caps.create(root, env, all).map_err(fail)?;
    let window = all
        .with_resource(Resource::Frames {
            first: 0x110,
            count: 4,
        })
        .with_rights(Rights::READ | Rights::MAP);
    let child = caps.derive(env, parent, window).map_err(fail)?;
    let t0 = counter();
    let token = caps.mint(env, child).map_err(fail)?;
    let t1 = counter();
    let verified = caps.verify(env, token.as_bytes()).map_err(fail)?;
    let t2 = counter();
    ensure!(verified.cap == window, "verified {:?}", verified.cap);
    ensure!(verified.handle == child, "verified the wrong handle");
    let mut bytes = [0u8; TOKEN_LEN];
    bytes.copy_from_slice(token.as_bytes());
    for bit in 0..bytes.len() * 8 {
        bytes[bit / 8] ^= 1 << (bit % 8);
        ensure!(
            caps.verify(env, &bytes).is_err(),
            "token with bit {bit} flipped verified"
        );
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
    ensure!(
        caps.derive(env, child, all) == Err(CapError::MissingRight(Rights::DERIVE)),
        "derived from a capability without DERIVE"
    );
    ensure!(
        caps.revoke(env, parent) == Ok(2),
        "revoke did not take the tree"
    );
    ensure!(
        caps.verify(env, token.as_bytes()) == Err(CapError::Revoked),
        "token survived revocation"
    );
    caps.unregister_env(root, env).map_err(fail)?;
    Ok((t1.wrapping_sub(t0), t2.wrapping_sub(t1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn passes() -> Result<(), Failure> {
        let x = 2;
        ensure!(x == 2, "x was {x}");
        Ok(())
    }

    fn fails() -> Result<(), Failure> {
        let x = 3;
        ensure!(x == 4, "x was {x}");
        Ok(())
    }

    #[test]
    fn reports_each_test_and_the_summary() {
        let tests = [
            KernelTest {
                name: "passes",
                run: passes,
            },
            KernelTest {
                name: "fails",
                run: fails,
            },
        ];
        let mut out = String::new();
        let summary = run_all(&tests, &mut out);
        assert_eq!(
            summary,
            Summary {
                passed: 1,
                failed: 1
            }
        );
        assert!(!summary.success());
        assert_eq!(
            out,
            "running 2 self-tests\ntest passes ... ok\ntest fails ... FAILED: x was 3\nself-tests: 1 passed, 1 failed\n"
        );
    }

    #[test]
    fn empty_run_is_not_a_success() {
        let mut out = String::new();
        assert!(!run_all(&[], &mut out).success());
    }

    #[test]
    fn long_failure_messages_are_cut() {
        let f = Failure::new(format_args!("{}", "y".repeat(500)));
        assert_eq!(f.0.len(), 120);
    }
}
