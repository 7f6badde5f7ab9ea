//! Read-only ext2 (being written).
#![no_std]
#![forbid(unsafe_code)]
