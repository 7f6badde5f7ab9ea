//! The hosted machine: a faithful in-process model of what the exokernel
//! needs from hardware — page tables, physical memory and a frame
//! allocator, a console, an interrupt router, a clock — implementing
//! `exokernel::env::Platform` and `hal`'s traits. The real exokernel runs
//! on it unchanged, so a libOS linked into an ordinary program, and the
//! exokernel's own tests, exercise the real system-call layer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use exokernel::env::Platform;
use hal::UserContext;
use hal::mmu::{
    Access, AddressSpaceOps, FrameSource, MapError, PAGE_SIZE, Translation, check_user_page,
};

/// `e_machine` the model accepts (x86_64: the register convention below is
/// x86_64's).
pub const EM_X86_64: u16 = 62;
/// First user address (as on x86_64).
pub const USER_START: u64 = 0x40_0000;
/// One past the last user address.
pub const USER_END: u64 = 0x8000_0000_0000;

/// Registers in the x86_64 system-call convention, without a CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// Instruction pointer.
    pub rip: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// rax, rdi, rsi, rdx, r10, r8, r9.
    pub r: [u64; 7],
}

impl UserContext for Regs {
    fn new_user(entry: u64, stack: u64, arg: u64) -> Self {
        let mut r = [0; 7];
        r[1] = arg;
        Self {
            rip: entry,
            rsp: stack,
            r,
        }
    }
    fn syscall_number(&self) -> u64 {
        self.r[0]
    }
    fn syscall_args(&self) -> [u64; 6] {
        [
            self.r[1], self.r[2], self.r[3], self.r[4], self.r[5], self.r[6],
        ]
    }
    fn set_results(&mut self, values: &[u64]) {
        for (slot, v) in self.r.iter_mut().zip(values) {
            *slot = *v;
        }
    }
    fn instruction_pointer(&self) -> u64 {
        self.rip
    }
    fn to_words(&self) -> [u64; hal::context::CONTEXT_WORDS] {
        let mut w = [0; hal::context::CONTEXT_WORDS];
        w[..7].copy_from_slice(&self.r);
        w[7] = self.rip;
        w[8] = self.rsp;
        w
    }
    fn from_words(w: &[u64; hal::context::CONTEXT_WORDS]) -> Self {
        let mut r = [0; 7];
        r.copy_from_slice(&w[..7]);
        Self {
            rip: w[7],
            rsp: w[8],
            r,
        }
    }
}

impl Regs {
    /// Loads a system call.
    pub fn call(&mut self, number: u64, args: &[u64]) {
        self.r[0] = number;
        for (i, slot) in self.r[1..].iter_mut().enumerate() {
            *slot = args.get(i).copied().unwrap_or(0);
        }
    }

    /// The result register as the ABI decodes it.
    pub fn result(&self) -> Result<u64, exo_abi::Error> {
        exo_abi::Error::from_raw(self.r[0])
    }
}

/// Page tables: one map per space, plus a page-table frame per
/// touched 2 MiB region (so table allocation can fail like the real one).
#[derive(Debug, Default)]
pub struct ModelSpace {
    /// Mapped pages.
    pub pages: BTreeMap<u64, Translation>,
    tables: BTreeMap<u64, u64>,
    own: u64,
}

impl AddressSpaceOps for ModelSpace {
    const USER_START: u64 = USER_START;
    const USER_END: u64 = USER_END;

    fn map(
        &mut self,
        virt: u64,
        phys: u64,
        access: Access,
        tables: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        check_user_page::<Self>(virt)?;
        if !phys.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        if self.pages.contains_key(&virt) {
            return Err(MapError::AlreadyMapped);
        }
        let region = virt >> 21;
        if let std::collections::btree_map::Entry::Vacant(slot) = self.tables.entry(region) {
            slot.insert(tables.allocate_zeroed().ok_or(MapError::OutOfFrames)?);
        }
        self.pages.insert(virt, Translation { phys, access });
        Ok(())
    }

    fn unmap(&mut self, virt: u64) -> Result<u64, MapError> {
        check_user_page::<Self>(virt)?;
        self.pages
            .remove(&virt)
            .map(|t| t.phys)
            .ok_or(MapError::NotMapped)
    }

    fn protect(&mut self, virt: u64, access: Access) -> Result<(), MapError> {
        check_user_page::<Self>(virt)?;
        let t = self.pages.get_mut(&virt).ok_or(MapError::NotMapped)?;
        t.access = access;
        Ok(())
    }

    fn translate(&self, virt: u64) -> Option<Translation> {
        self.pages.get(&(virt & !(PAGE_SIZE - 1))).copied()
    }
}

/// Physical memory and a first-fit frame allocator.
#[derive(Debug)]
pub struct Memory {
    /// Frames in all.
    pub frames: u64,
    used: BTreeSet<u64>,
    bytes: BTreeMap<u64, Vec<u8>>,
}

impl Memory {
    /// `frames` frames of zeroed memory (frame 0 is never handed out).
    pub fn new(frames: u64) -> Self {
        Self {
            frames,
            used: BTreeSet::new(),
            bytes: BTreeMap::new(),
        }
    }

    /// Frames not in use.
    pub fn free_count(&self) -> u64 {
        self.frames - self.used.len() as u64
    }

    fn alloc(&mut self, count: u64) -> Option<u64> {
        // First fit; frame 0 is never handed out (like real low memory).
        let mut start = 1;
        while start + count <= self.frames {
            match (start..start + count).find(|f| self.used.contains(f)) {
                Some(used) => start = used + 1,
                None => {
                    for f in start..start + count {
                        self.used.insert(f);
                        self.bytes.insert(f, vec![0; PAGE_SIZE as usize]);
                    }
                    return Some(start * PAGE_SIZE);
                }
            }
        }
        None
    }

    fn free(&mut self, phys: u64, count: u64) {
        for f in phys / PAGE_SIZE..phys / PAGE_SIZE + count {
            assert!(self.used.remove(&f), "double free of frame {f:#x}");
            self.bytes.remove(&f);
        }
    }

    /// Reads within one frame.
    ///
    /// # Panics
    /// If the frame is free: the kernel never reads memory it does not own.
    pub fn read(&self, phys: u64, buf: &mut [u8]) {
        let frame = self
            .bytes
            .get(&(phys / PAGE_SIZE))
            .expect("read of a free frame");
        let at = (phys % PAGE_SIZE) as usize;
        buf.copy_from_slice(&frame[at..at + buf.len()]);
    }

    fn write(&mut self, phys: u64, data: &[u8]) {
        let frame = self
            .bytes
            .get_mut(&(phys / PAGE_SIZE))
            .expect("write to a free frame");
        let at = (phys % PAGE_SIZE) as usize;
        frame[at..at + data.len()].copy_from_slice(data);
    }
}

impl FrameSource for Memory {
    fn allocate_zeroed(&mut self) -> Option<u64> {
        self.alloc(1)
    }
    fn release(&mut self, phys: u64) {
        self.free(phys, 1);
    }
}

/// The machine.
#[derive(Debug)]
pub struct Model {
    /// Physical memory.
    pub memory: Memory,
    /// Everything environments wrote with `DEBUG_WRITE`.
    pub console: Vec<u8>,
    /// Echo console output to the host's stderr as well.
    pub echo: bool,
    /// The active address space (its root frame), if any.
    pub active: Option<u64>,
    /// The loaded thread pointer.
    pub tls: u64,
    /// Routed lines: (level, active low, masked).
    pub routed: BTreeMap<u32, (bool, bool, bool)>,
    next_space: u64,
    booted: Instant,
}

impl Model {
    /// A machine with `frames` frames of memory.
    #[must_use]
    pub fn new(frames: u64) -> Self {
        Self {
            memory: Memory::new(frames),
            console: Vec::new(),
            echo: false,
            active: None,
            tls: 0,
            routed: BTreeMap::new(),
            next_space: 0,
            booted: Instant::now(),
        }
    }
}

impl Platform for Model {
    type Space = ModelSpace;
    type Fpu = ();
    const ELF_MACHINE: u16 = EM_X86_64;

    fn new_space(&mut self) -> Result<ModelSpace, MapError> {
        let own = self.memory.alloc(1).ok_or(MapError::OutOfFrames)?;
        self.next_space += 1;
        Ok(ModelSpace {
            own,
            ..ModelSpace::default()
        })
    }
    fn destroy_space(&mut self, space: ModelSpace) {
        assert_ne!(self.active, Some(space.own), "destroyed the active space");
        for frame in space.tables.values() {
            self.memory.free(*frame, 1);
        }
        self.memory.free(space.own, 1);
    }
    fn activate(&mut self, space: &ModelSpace) {
        self.active = Some(space.own);
    }
    fn activate_kernel(&mut self) {
        self.active = None;
    }
    fn page_tables(&mut self) -> &mut dyn FrameSource {
        &mut self.memory
    }
    fn alloc_frames(&mut self, count: u64, limit: u64) -> Option<u64> {
        let phys = self.memory.alloc(count)?;
        if phys + count * PAGE_SIZE > limit {
            self.memory.free(phys, count);
            return None;
        }
        Some(phys)
    }
    fn free_frames(&mut self, phys: u64, count: u64) {
        self.memory.free(phys, count);
    }
    fn read_phys(&self, phys: u64, buf: &mut [u8]) {
        self.memory.read(phys, buf);
    }
    fn write_phys(&mut self, phys: u64, data: &[u8]) {
        self.memory.write(phys, data);
    }
    fn console(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
        if self.echo {
            use std::io::Write;
            let _ = std::io::stderr().write_all(bytes);
        }
    }
    fn set_tls(&mut self, base: u64) {
        self.tls = base;
    }
    fn save_fpu(&mut self, _fpu: &mut ()) {}
    fn restore_fpu(&mut self, _fpu: &()) {}
    fn read_log(&self, offset: u64, buf: &mut [u8]) -> usize {
        // The hosted machine's log is its console.
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.console.len());
        let n = buf.len().min(self.console.len() - start);
        buf[..n].copy_from_slice(&self.console[start..start + n]);
        n
    }
    fn now_ns(&self) -> u64 {
        u64::try_from(self.booted.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    fn irq_lines(&self) -> u32 {
        24
    }
    fn irq_route(&mut self, line: u32, level: bool, active_low: bool) -> bool {
        self.routed.insert(line, (level, active_low, false));
        true
    }
    fn irq_mask(&mut self, line: u32, masked: bool) {
        if let Some(r) = self.routed.get_mut(&line) {
            r.2 = masked;
        }
    }
}
