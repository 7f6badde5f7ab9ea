//! Embeddable eBPF runtime (being written).
#![no_std]
