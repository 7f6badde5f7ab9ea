//! POSIX signals: numbers, sets, dispositions and default actions.
//!
//! Signal numbers are the libOS's own (they happen to equal Linux's for
//! 1–31); personalities translate. Delivery happens in the process layer
//! ([`crate::process`]) on the way back from a system call or upcall.

use core::fmt;

/// A signal number, 1..=64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(u8);

macro_rules! signals {
    ($($name:ident = $n:literal, $action:ident;)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: Self = Self($n);
            )*

            /// What happens when nothing handles it.
            #[must_use]
            pub const fn default_action(self) -> DefaultAction {
                match self.0 {
                    $($n => DefaultAction::$action,)*
                    // Real-time signals terminate.
                    _ => DefaultAction::Terminate,
                }
            }

            /// The name, e.g. `"SIGINT"` (`"SIGRT"` for real-time ones).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($n => stringify!($name),)*
                    _ => "SIGRT",
                }
            }
        }
    };
}

signals! {
    SIGHUP = 1, Terminate;
    SIGINT = 2, Terminate;
    SIGQUIT = 3, Core;
    SIGILL = 4, Core;
    SIGTRAP = 5, Core;
    SIGABRT = 6, Core;
    SIGBUS = 7, Core;
    SIGFPE = 8, Core;
    SIGKILL = 9, Terminate;
    SIGUSR1 = 10, Terminate;
    SIGSEGV = 11, Core;
    SIGUSR2 = 12, Terminate;
    SIGPIPE = 13, Terminate;
    SIGALRM = 14, Terminate;
    SIGTERM = 15, Terminate;
    SIGSTKFLT = 16, Terminate;
    SIGCHLD = 17, Ignore;
    SIGCONT = 18, Continue;
    SIGSTOP = 19, Stop;
    SIGTSTP = 20, Stop;
    SIGTTIN = 21, Stop;
    SIGTTOU = 22, Stop;
    SIGURG = 23, Ignore;
    SIGXCPU = 24, Core;
    SIGXFSZ = 25, Core;
    SIGVTALRM = 26, Terminate;
    SIGPROF = 27, Terminate;
    SIGWINCH = 28, Ignore;
    SIGIO = 29, Terminate;
    SIGPWR = 30, Terminate;
    SIGSYS = 31, Core;
}

impl Signal {
    /// Highest signal number.
    pub const MAX: u8 = 64;

    /// The signal numbered `n`.
    ///
    /// # Errors
    /// `EINVAL` outside 1..=64.
    pub fn new(n: u32) -> crate::Result<Self> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or(crate::Errno::EINVAL)
    }

    /// The number.
    #[must_use]
    pub const fn number(self) -> u8 {
        self.0
    }

    /// `SIGKILL` and `SIGSTOP` cannot be caught, blocked or ignored.
    #[must_use]
    pub const fn is_unblockable(self) -> bool {
        self.0 == 9 || self.0 == 19
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a signal does by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// End the process.
    Terminate,
    /// End the process with a core dump.
    Core,
    /// Nothing.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue a stopped process.
    Continue,
}

/// A set of signals (bit `n - 1` for signal `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigSet(pub u64);

impl SigSet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// Whether `sig` is in the set.
    #[must_use]
    pub const fn contains(self, sig: Signal) -> bool {
        self.0 & (1 << (sig.0 - 1)) != 0
    }

    /// Adds `sig`.
    pub fn insert(&mut self, sig: Signal) {
        self.0 |= 1 << (sig.0 - 1);
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signal) {
        self.0 &= !(1 << (sig.0 - 1));
    }

    /// The set without the signals that cannot be blocked.
    #[must_use]
    pub const fn blockable(self) -> Self {
        Self(self.0 & !((1 << 8) | (1 << 18)))
    }

    /// The lowest-numbered signal in the set.
    #[must_use]
    pub fn first(self) -> Option<Signal> {
        (self.0 != 0).then(|| Signal(self.0.trailing_zeros() as u8 + 1))
    }
}

bitflags::bitflags! {
    /// How a handler runs: the ABI-neutral meaning of `sa_flags`. Each
    /// personality translates its own bit values with a [`FlagTable`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ActionFlags: u32 {
        /// Reset to the default after one delivery (`SA_RESETHAND`).
        const RESETHAND = 1 << 0;
        /// Do not block the signal during its own handler (`SA_NODEFER`).
        const NODEFER = 1 << 1;
        /// Restart interrupted system calls (`SA_RESTART`).
        const RESTART = 1 << 2;
        /// The handler takes `(signo, siginfo_t *, ucontext_t *)`
        /// (`SA_SIGINFO`).
        const SIGINFO = 1 << 3;
        /// Run on the alternate signal stack, if one is set
        /// (`SA_ONSTACK`).
        const ONSTACK = 1 << 4;
        /// The disposition's `restorer` is the handler's return address
        /// (Linux's `SA_RESTORER`).
        const RESTORER = 1 << 5;
    }
}

/// One ABI's `sa_flags` bits: `(ABI bit, meaning)` pairs.
pub type FlagTable = [(u64, ActionFlags)];

impl ActionFlags {
    /// The flags an ABI's `sa_flags` word sets; bits the table does not
    /// name are dropped.
    #[must_use]
    pub fn from_abi(raw: u64, table: &FlagTable) -> Self {
        table
            .iter()
            .filter(|(bit, _)| raw & bit != 0)
            .fold(Self::empty(), |acc, (_, f)| acc | *f)
    }

    /// The ABI's `sa_flags` word for these flags.
    #[must_use]
    pub fn to_abi(self, table: &FlagTable) -> u64 {
        table
            .iter()
            .filter(|(_, f)| self.contains(*f))
            .fold(0, |acc, (bit, _)| acc | bit)
    }
}

/// How a process wants a signal handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The default action.
    Default,
    /// Discard it.
    Ignore,
    /// Run a handler.
    Handler {
        /// Handler address (or, hosted, a registered callback id).
        entry: u64,
        /// Signals blocked while it runs (plus the signal itself unless
        /// [`ActionFlags::NODEFER`]).
        mask: SigSet,
        /// How it runs.
        flags: ActionFlags,
        /// Where it returns to, with [`ActionFlags::RESTORER`] (a
        /// trampoline that calls `sigreturn`); 0 otherwise.
        restorer: u64,
    },
}

impl Disposition {
    /// What `sigaction` installs for a handler word: 0 is `SIG_DFL`, 1
    /// `SIG_IGN`, anything else a handler's entry point.
    #[must_use]
    pub fn from_parts(handler: u64, flags: ActionFlags, mask: SigSet, restorer: u64) -> Self {
        match handler {
            0 => Self::Default,
            1 => Self::Ignore,
            entry => Self::Handler {
                entry,
                mask: mask.blockable(),
                flags,
                restorer,
            },
        }
    }

    /// `(handler, flags, mask, restorer)` as `sigaction` reports them
    /// (the inverse of [`Disposition::from_parts`]).
    #[must_use]
    pub fn parts(self) -> (u64, ActionFlags, SigSet, u64) {
        match self {
            Self::Default => (0, ActionFlags::empty(), SigSet::EMPTY, 0),
            Self::Ignore => (1, ActionFlags::empty(), SigSet::EMPTY, 0),
            Self::Handler {
                entry,
                mask,
                flags,
                restorer,
            } => (entry, flags, mask, restorer),
        }
    }
}
