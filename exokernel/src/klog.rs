//! The kernel logger: `log` records to the console and the boot log ring.
//!
//! Lines look like `[    0.012345] INFO  exo: message`. They are formatted
//! into a fixed buffer (no heap; usable from the first line of boot) and
//! written whole, so concurrent writers do not interleave within a line.

use crate::bootlog::BootLog;
use crate::cmdline::LogLevel;
use core::fmt::{self, Write};
use hal::Console;
use spin::{Mutex, Once};

/// Bytes of history kept in the boot log ring.
pub const BOOT_LOG_SIZE: usize = 16 * 1024;
/// Longest line written; longer messages are cut and marked with `...`.
pub const MAX_LINE: usize = 512;

/// The boot log every line is copied into.
pub static BOOT_LOG: Mutex<BootLog<BOOT_LOG_SIZE>> = Mutex::new(BootLog::new());

struct Logger {
    console: &'static dyn Console,
    /// Microseconds since boot.
    clock: fn() -> u64,
}

static LOGGER: Once<Logger> = Once::new();

/// A line buffer that cuts instead of failing when full.
struct Line {
    buf: [u8; MAX_LINE],
    len: usize,
    cut: bool,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_LINE - 4 - self.len; // keep space for "...\n"
        let take = s.len().min(room);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        self.cut |= take < s.len();
        Ok(())
    }
}

/// Formats one log line the way the kernel prints it.
pub fn format_line(
    micros: u64,
    level: log::Level,
    target: &str,
    args: fmt::Arguments<'_>,
    out: &mut dyn FnMut(&[u8]),
) {
    let mut line = Line {
        buf: [0; MAX_LINE],
        len: 0,
        cut: false,
    };
    let _ = write!(
        line,
        "[{:5}.{:06}] {:<5} {}: {}",
        micros / 1_000_000,
        micros % 1_000_000,
        level,
        target,
        args
    );
    let mut end = line.len;
    if line.cut {
        line.buf[end..end + 3].copy_from_slice(b"...");
        end += 3;
    }
    line.buf[end] = b'\n';
    out(&line.buf[..=end]);
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = record.target().split("::").next().unwrap_or("");
        format_line(
            (self.clock)(),
            record.level(),
            target,
            *record.args(),
            &mut |bytes| {
                self.console.write_bytes(bytes);
                BOOT_LOG.lock().write(bytes);
            },
        );
    }

    fn flush(&self) {}
}

/// Maps the command line's level to `log`'s.
pub fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    }
}

/// Installs the kernel logger (once; later calls only change the level).
pub fn init(console: &'static dyn Console, clock: fn() -> u64, level: LogLevel) {
    let logger = LOGGER.call_once(|| Logger { console, clock });
    let _ = log::set_logger(logger);
    log::set_max_level(level_filter(level));
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn line(args: fmt::Arguments<'_>) -> String {
        let mut out = Vec::new();
        format_line(1_234_567, log::Level::Warn, "exo", args, &mut |b| {
            out.extend_from_slice(b)
        });
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn lines_have_timestamp_level_and_target() {
        assert_eq!(
            line(format_args!("hello {}", 42)),
            "[    1.234567] WARN  exo: hello 42\n"
        );
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        let long = "x".repeat(2000);
        let l = line(format_args!("{long}"));
        assert_eq!(l.len(), MAX_LINE);
        assert!(l.ends_with("...\n"));
    }
}
