//! Shared host-test scaffolding: an ELF image builder, and a kernel on the
//! hosted backend's model machine (`exo_hosted::machine`: page tables,
//! physical memory, console, saved registers), which implements the
//! exokernel's `Platform` and `hal`'s traits faithfully enough to run the
//! environment code under `cargo test`.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different subset"
)]

use exokernel::cap::{CapKey, CapSpace, CapSpaceConfig, Level};
use exokernel::entropy::Drbg;
use exokernel::env::{Kernel, KernelConfig};
use hal::mmu::PAGE_SIZE;

pub use exo_hosted::machine::{EM_X86_64, Model, Regs, USER_END, USER_START};

/// Segment description for [`elf_image`]: (vaddr, memsz, file bytes, flags).
pub type Seg<'a> = (u64, u64, &'a [u8], u32);
pub const PF_RX: u32 = 5;
pub const PF_RW: u32 = 6;
pub const PF_RWX: u32 = 7;

/// A little-endian ELF64 header (`class` 2 = 64-bit) with `PT_LOAD`
/// segments; file bytes follow the program headers.
pub fn elf_image(class: u8, e_type: u16, machine: u16, entry: u64, segs: &[Seg<'_>]) -> Vec<u8> {
    let phoff = 64u64;
    let mut offset = phoff + 56 * segs.len() as u64;
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = class;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&e_type.to_le_bytes());
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&entry.to_le_bytes());
    out[32..40].copy_from_slice(&phoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
    for &(vaddr, memsz, bytes, flags) in segs {
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes());
        ph[4..8].copy_from_slice(&flags.to_le_bytes());
        ph[8..16].copy_from_slice(&offset.to_le_bytes());
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[24..32].copy_from_slice(&vaddr.to_le_bytes());
        ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        ph[48..56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
        out.extend_from_slice(&ph);
        offset += bytes.len() as u64;
    }
    for &(_, _, bytes, _) in segs {
        out.extend_from_slice(bytes);
    }
    out
}

/// A typical program: code at 0x40_1000, data + bss at 0x40_2000.
pub fn program() -> Vec<u8> {
    elf_image(
        2,
        2,
        EM_X86_64,
        0x40_1000,
        &[
            (0x40_1000, 0x20, b"\xcc code bytes \xcc", PF_RX),
            (0x40_2000, 0x3000, b"initial data", PF_RW),
        ],
    )
}

pub type TestKernel = Kernel<Model, Regs>;

/// A kernel over `frames` frames of model memory.
pub fn kernel(frames: u64) -> TestKernel {
    let (caps, root) = CapSpace::new(
        CapKey::from_seed([9; 32]),
        CapSpaceConfig {
            max_envs: 8,
            slots_per_env: 64,
        },
    )
    .expect("cap space");
    Kernel::new(
        Model::new(frames),
        caps,
        root,
        Drbg::new(&[3; 32]),
        KernelConfig {
            frame_quota: 64,
            ticks_per_slice: 2,
            clearance: Level::new(8).expect("level"),
        },
    )
}
