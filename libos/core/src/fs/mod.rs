//! Filesystems: tmpfs (memory), devfs (devices), procfs (process and
//! system information) and ext2 (read-only, over a block device).

pub mod devfs;
pub mod ext2;
pub mod procfs;
pub mod sysfs;
pub mod tmpfs;
