//! FreeBSD's errno numbers (`sys/sys/errno.h`) for the libOS's errors.
//!
//! Numbers 1–34 agree with Linux except 11 and 35, which swap
//! (`EDEADLK` is 11 and `EAGAIN` 35 on FreeBSD); above 34 the two
//! systems diverge completely. The libOS names its errors after POSIX and
//! gives each a Linux number; the mapping goes through that number so an
//! error added to the libOS later still lands on its FreeBSD value.

use libos::Errno;

/// FreeBSD errno values used by the personality.
pub mod nr {
    /// `EPERM`.
    pub const EPERM: i32 = 1;
    /// `ENOENT`.
    pub const ENOENT: i32 = 2;
    /// `ESRCH`.
    pub const ESRCH: i32 = 3;
    /// `EIO`.
    pub const EIO: i32 = 5;
    /// `EDEADLK`.
    pub const EDEADLK: i32 = 11;
    /// `EAGAIN` / `EWOULDBLOCK`.
    pub const EAGAIN: i32 = 35;
    /// `ENOTSOCK`.
    pub const ENOTSOCK: i32 = 38;
    /// `EPROTOTYPE`.
    pub const EPROTOTYPE: i32 = 41;
    /// `EPROTONOSUPPORT`.
    pub const EPROTONOSUPPORT: i32 = 43;
    /// `EOPNOTSUPP`.
    pub const EOPNOTSUPP: i32 = 45;
    /// `EAFNOSUPPORT`.
    pub const EAFNOSUPPORT: i32 = 47;
    /// `ETIMEDOUT`.
    pub const ETIMEDOUT: i32 = 60;
    /// `ELOOP`.
    pub const ELOOP: i32 = 62;
    /// `ENAMETOOLONG`.
    pub const ENAMETOOLONG: i32 = 63;
    /// `ENOTEMPTY`.
    pub const ENOTEMPTY: i32 = 66;
    /// `ENOSYS`.
    pub const ENOSYS: i32 = 78;
    /// Highest errno FreeBSD defines (`ELAST`, 97 = `EINTEGRITY`).
    pub const ELAST: i32 = 97;
}

/// The FreeBSD number of a Linux errno number, `None` for Linux errors
/// FreeBSD does not have.
#[must_use]
pub const fn from_linux(linux: i32) -> Option<i32> {
    Some(match linux {
        // EPERM … EDOM/ERANGE agree, apart from the 11/35 swap.
        1..=10 | 12..=34 => linux,
        11 => nr::EAGAIN,
        35 => nr::EDEADLK,
        36 => nr::ENAMETOOLONG,
        37 => 77, // ENOLCK
        38 => nr::ENOSYS,
        39 => nr::ENOTEMPTY,
        40 => nr::ELOOP,
        42 => 83, // ENOMSG
        43 => 82, // EIDRM
        61 => 87, // ENODATA → ENOATTR
        67 => 91, // ENOLINK
        71 => 92, // EPROTO
        72 => 90, // EMULTIHOP
        74 => 89, // EBADMSG
        75 => 84, // EOVERFLOW
        84 => 86, // EILSEQ
        87 => 68, // EUSERS
        88 => nr::ENOTSOCK,
        89 => 39, // EDESTADDRREQ
        90 => 40, // EMSGSIZE
        91 => nr::EPROTOTYPE,
        92 => 42, // ENOPROTOOPT
        93 => nr::EPROTONOSUPPORT,
        94 => 44, // ESOCKTNOSUPPORT
        95 => nr::EOPNOTSUPP,
        96 => 46, // EPFNOSUPPORT
        97 => nr::EAFNOSUPPORT,
        98 => 48,  // EADDRINUSE
        99 => 49,  // EADDRNOTAVAIL
        100 => 50, // ENETDOWN
        101 => 51, // ENETUNREACH
        102 => 52, // ENETRESET
        103 => 53, // ECONNABORTED
        104 => 54, // ECONNRESET
        105 => 55, // ENOBUFS
        106 => 56, // EISCONN
        107 => 57, // ENOTCONN
        108 => 58, // ESHUTDOWN
        109 => 59, // ETOOMANYREFS
        110 => nr::ETIMEDOUT,
        111 => 61, // ECONNREFUSED
        112 => 64, // EHOSTDOWN
        113 => 65, // EHOSTUNREACH
        114 => 37, // EALREADY
        115 => 36, // EINPROGRESS
        116 => 70, // ESTALE
        122 => 69, // EDQUOT
        125 => 85, // ECANCELED
        130 => 96, // EOWNERDEAD
        131 => 95, // ENOTRECOVERABLE
        _ => return None,
    })
}

/// The FreeBSD errno for a libOS error (`EIO` for one FreeBSD lacks).
#[must_use]
pub fn errno(e: Errno) -> i32 {
    from_linux(e.linux()).unwrap_or(nr::EIO)
}
