//! `Errno`: the libOS's error type, named after POSIX.
//!
//! Every libOS operation fails with one of these. Personalities translate
//! them to their ABI's numbers (Linux, FreeBSD and illumos disagree on
//! several); [`Errno::linux`] gives the Linux x86_64 value, which is also
//! what the hosted examples print.

use core::fmt;

macro_rules! errnos {
    ($($name:ident = $linux:literal, $text:literal;)*) => {
        /// A POSIX error.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Errno {
            $(
                #[doc = $text]
                $name,
            )*
        }

        impl Errno {
            /// Every error.
            pub const ALL: &'static [Self] = &[$(Self::$name),*];

            /// The Linux (x86_64 and aarch64 generic) number.
            #[must_use]
            pub const fn linux(self) -> i32 {
                match self {
                    $(Self::$name => $linux,)*
                }
            }

            /// The symbolic name, e.g. `"ENOENT"`.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }

            /// The `strerror` text.
            #[must_use]
            pub const fn text(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Exec format error";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Numerical result out of range";
    EDEADLK = 35, "Resource deadlock avoided";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    ETIMEDOUT = 110, "Connection timed out";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), self.name())
    }
}

impl core::error::Error for Errno {}

impl From<exo_sys::Error> for Errno {
    /// Kernel errors as the nearest POSIX error.
    fn from(e: exo_sys::Error) -> Self {
        use exo_sys::Error as K;
        match e {
            K::NoSuchCall => Self::ENOSYS,
            K::BadAddress => Self::EFAULT,
            K::InvalidArgument | K::WrongKind => Self::EINVAL,
            K::BadCapability => Self::EBADF,
            K::PermissionDenied | K::FlowViolation => Self::EPERM,
            K::NoMemory | K::TableFull => Self::ENOMEM,
            K::NoSuchEnvironment => Self::ESRCH,
            K::AlreadyMapped => Self::EEXIST,
            K::NotMapped => Self::ENOENT,
            K::Deadlock => Self::EDEADLK,
        }
    }
}

/// The libOS's result type.
pub type Result<T> = core::result::Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_names_match() {
        let mut seen = alloc::collections::BTreeSet::new();
        for e in Errno::ALL {
            assert!(seen.insert(e.linux()), "{e:?}");
            assert_eq!(alloc::format!("{e:?}"), e.name());
        }
        assert_eq!(Errno::ENOENT.linux(), 2);
        assert_eq!(
            alloc::format!("{}", Errno::ELOOP),
            "Too many levels of symbolic links (ELOOP)"
        );
    }
}
