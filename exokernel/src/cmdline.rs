//! The kernel command line: `key` and `key=value` words separated by spaces.
//!
//! Unknown words and bad values never stop the boot; each is reported
//! through a callback so the kernel can print a clear warning and go on.

use core::fmt;

/// A deliberate crash, for testing that crashes are reported and exit QEMU
/// with a failure instead of hanging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// `panic!()` in kernel code.
    Panic,
    /// A write to an unmapped address (a page fault).
    PageFault,
    /// An undefined instruction.
    InvalidOpcode,
}

/// Log verbosity, mirroring `log::LevelFilter` without depending on it here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default: one line per boot step.
    Info,
    /// Details.
    Debug,
    /// Everything.
    Trace,
}

/// The options the kernel understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// `test`: run the in-kernel self-tests, then exit QEMU with their result.
    pub self_test: bool,
    /// `log=<error|warn|info|debug|trace>`.
    pub log_level: LogLevel,
    /// `crash=<panic|pagefault|ud>`.
    pub crash: Option<Crash>,
    /// `timer_hz=<10..=10000>`: local APIC timer frequency.
    pub timer_hz: u32,
    /// `exit`: leave QEMU (successfully) once every environment has ended,
    /// instead of idling. For boot tests and benchmarks.
    pub exit_when_done: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            self_test: false,
            log_level: LogLevel::Info,
            crash: None,
            timer_hz: 100,
            exit_when_done: false,
        }
    }
}

/// A word of the command line the kernel ignored, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionWarning<'a> {
    /// An option nobody knows.
    Unknown(&'a str),
    /// A known option with a value it cannot take.
    BadValue {
        /// The option.
        key: &'a str,
        /// The rejected value.
        value: &'a str,
    },
    /// A flag option given a value, or a valued option given none.
    MissingValue(&'a str),
}

impl fmt::Display for OptionWarning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(word) => write!(f, "unknown kernel option '{}'; ignored", Shown(word)),
            Self::BadValue { key, value } => write!(
                f,
                "bad value '{}' for kernel option '{key}'; ignored",
                Shown(value)
            ),
            Self::MissingValue(key) => write!(f, "kernel option '{key}' used wrongly; ignored"),
        }
    }
}

/// Prints at most 64 bytes of user text, so a huge word cannot flood the log.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut cut = self.0.len().min(64);
        while !self.0.is_char_boundary(cut) {
            cut -= 1;
        }
        f.write_str(&self.0[..cut])?;
        if cut < self.0.len() {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// Parses `line`, calling `warn` for every word it ignores.
pub fn parse<'a>(line: &'a str, mut warn: impl FnMut(OptionWarning<'a>)) -> Options {
    let mut options = Options::default();
    for word in line.split_ascii_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        match (key, value) {
            ("test", None) => options.self_test = true,
            ("exit", None) => options.exit_when_done = true,
            ("log", Some(v)) => match v {
                "error" => options.log_level = LogLevel::Error,
                "warn" => options.log_level = LogLevel::Warn,
                "info" => options.log_level = LogLevel::Info,
                "debug" => options.log_level = LogLevel::Debug,
                "trace" => options.log_level = LogLevel::Trace,
                _ => warn(OptionWarning::BadValue { key, value: v }),
            },
            ("crash", Some(v)) => match v {
                "panic" => options.crash = Some(Crash::Panic),
                "pagefault" => options.crash = Some(Crash::PageFault),
                "ud" => options.crash = Some(Crash::InvalidOpcode),
                _ => warn(OptionWarning::BadValue { key, value: v }),
            },
            ("timer_hz", Some(v)) => match v.parse::<u32>() {
                Ok(hz @ 10..=10_000) => options.timer_hz = hz,
                _ => warn(OptionWarning::BadValue { key, value: v }),
            },
            ("test" | "exit", Some(_)) | ("log" | "crash" | "timer_hz", None) => {
                warn(OptionWarning::MissingValue(key));
            }
            _ => warn(OptionWarning::Unknown(word)),
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    fn parse_collect(line: &str) -> (Options, Vec<String>) {
        let mut warnings = Vec::new();
        let options = parse(line, |w| warnings.push(w.to_string()));
        (options, warnings)
    }

    #[test]
    fn empty_line_gives_defaults() {
        assert_eq!(parse_collect(""), (Options::default(), Vec::new()));
        assert_eq!(parse_collect("   \t "), (Options::default(), Vec::new()));
    }

    #[test]
    fn known_options_parse() {
        let (o, w) = parse_collect("test log=debug crash=pagefault timer_hz=250 exit");
        assert!(w.is_empty(), "{w:?}");
        assert!(o.self_test);
        assert!(o.exit_when_done);
        assert_eq!(o.log_level, LogLevel::Debug);
        assert_eq!(o.crash, Some(Crash::PageFault));
        assert_eq!(o.timer_hz, 250);
    }

    #[test]
    fn unknown_and_bad_options_warn_and_are_ignored() {
        let (o, w) = parse_collect("frobnicate=1 test log=loud timer_hz=5 crash test=1 timer_hz=x");
        assert!(o.self_test);
        assert_eq!(o.log_level, LogLevel::Info);
        assert_eq!(o.timer_hz, 100);
        assert_eq!(
            w,
            [
                "unknown kernel option 'frobnicate=1'; ignored",
                "bad value 'loud' for kernel option 'log'; ignored",
                "bad value '5' for kernel option 'timer_hz'; ignored",
                "kernel option 'crash' used wrongly; ignored",
                "kernel option 'test' used wrongly; ignored",
                "bad value 'x' for kernel option 'timer_hz'; ignored",
            ]
        );
    }

    #[test]
    fn huge_words_are_shortened_in_warnings() {
        let word = "z".repeat(10 * 1024);
        let (_, w) = parse_collect(&word);
        assert_eq!(w.len(), 1);
        assert!(w[0].len() < 200, "{}", w[0]);
        assert!(w[0].contains("(10240 bytes)"));
    }

    proptest::proptest! {
        #[test]
        fn any_line_parses_without_panic(line in ".{0,300}") {
            let mut count = 0;
            let _ = parse(&line, |_| count += 1);
            proptest::prop_assert!(count <= line.split_ascii_whitespace().count());
        }
    }

    #[test]
    fn non_ascii_is_handled() {
        let (_, w) = parse_collect("ключ=значение test");
        assert_eq!(
            w,
            ["unknown kernel option 'ключ=значение'; ignored".to_string()]
        );
    }
}
