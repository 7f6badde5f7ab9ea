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

/// A line being formatted: up to 512 bytes, written with one
/// `DEBUG_WRITE` so lines from different environments never interleave.
#[derive(Debug)]
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    /// An empty line.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Writes the line to the console (truncated at 512 bytes).
    pub fn flush(&self) {
        let _ = crate::debug_write(&self.buf[..self.len]);
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints one line to the kernel console (atomically, up to 512 bytes).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut line = $crate::rt::Line::new();
        let _ = writeln!(line, $($arg)*);
        line.flush();
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
    let mut line = Line::new();
    let _ = writeln!(line, "panic: {info}");
    line.flush();
    crate::exit(101)
}
