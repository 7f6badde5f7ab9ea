//! A minimal runtime for freestanding test programs: `_start` calls the
//! program's `main(env_id) -> u64` and exits with its value; a panic prints
//! its message and exits with status 101.

use core::fmt::{self, Write};

/// `fmt::Write` to the kernel console.
#[derive(Debug)]
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::debug_write(s.as_bytes())
            .map(|_| ())
            .map_err(|_| fmt::Error)
    }
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::rt::Console, $($arg)*);
    }};
}

unsafe extern "Rust" {
    /// The program: receives its environment id, returns its exit status.
    fn main(env: u64) -> u64;
}

/// The entry point: the kernel starts here with the environment id in the
/// first argument register and a 16-byte-aligned stack.
#[unsafe(no_mangle)]
extern "C" fn _start(env: u64) -> ! {
    // SAFETY: every program using the runtime defines `main` with this
    // signature (`#[unsafe(no_mangle)] fn main(env: u64) -> u64`).
    let status = unsafe { main(env) };
    crate::exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Console, "panic: {info}");
    crate::exit(101)
}
