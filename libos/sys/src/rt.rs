//! A minimal runtime for freestanding programs: `_start` calls the
//! program's `main(env_id) -> u64` and exits with its value; a panic prints
//! its message and exits with status 101; and a global allocator whose
//! heap — frames from `FRAME_ALLOC`, mapped at [`HEAP_BASE`] — is set up on
//! the first allocation, so programs that never allocate never pay for it.

use core::fmt::{self, Write};

/// `fmt::Write` to the kernel console.
#[derive(Debug)]
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::debug_write(s.as_bytes())
            .map(|_| ())
            .map_err(|_| fmt::Error)
    }
}

/// A line being formatted: up to 512 bytes, written with one
/// `DEBUG_WRITE` so lines from different environments never interleave.
#[derive(Debug)]
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    /// An empty line.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Writes the line to the console (truncated at 512 bytes).
    pub fn flush(&self) {
        let _ = crate::debug_write(&self.buf[..self.len]);
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints one line to the kernel console (atomically, up to 512 bytes).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut line = $crate::rt::Line::new();
        let _ = writeln!(line, $($arg)*);
        line.flush();
    }};
}

unsafe extern "Rust" {
    /// The program: receives its environment id, returns its exit status.
    fn main(env: u64) -> u64;
}

/// The entry point: the kernel starts here with the environment id in the
/// first argument register and a 16-byte-aligned stack.
#[unsafe(no_mangle)]
extern "C" fn _start(env: u64) -> ! {
    // SAFETY: every program using the runtime defines `main` with this
    // signature (`#[unsafe(no_mangle)] fn main(env: u64) -> u64`).
    let status = unsafe { main(env) };
    crate::exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = Line::new();
    let _ = writeln!(line, "panic: {info}");
    line.flush();
    crate::exit(101)
}

/// Where the heap is mapped.
pub const HEAP_BASE: u64 = 0x40_0000_0000;
/// Frames per `FRAME_ALLOC` of the heap, and how many such runs it has
/// (4 MiB in all).
const HEAP_RUN: u64 = 512;
const HEAP_RUNS: u64 = 2;

/// The program heap.
struct UserHeap(spin::Mutex<Option<linked_list_allocator::Heap>>);

impl UserHeap {
    /// Allocates and maps the heap; `None` if the kernel refuses.
    fn create() -> Option<linked_list_allocator::Heap> {
        let mut va = HEAP_BASE;
        for _ in 0..HEAP_RUNS {
            let frames = crate::frame_alloc(HEAP_RUN).ok()?;
            for i in 0..HEAP_RUN {
                crate::map(frames, i, va, crate::access::WRITE).ok()?;
                va += 4096;
            }
        }
        let mut heap = linked_list_allocator::Heap::empty();
        // SAFETY: [HEAP_BASE, va) was just mapped writable in this address
        // space, is used by nothing else, and this runs once.
        unsafe { heap.init(HEAP_BASE as *mut u8, (va - HEAP_BASE) as usize) };
        Some(heap)
    }
}

// SAFETY: allocation and deallocation go through `linked_list_allocator`
// under a lock; blocks are handed out once and returned with the layout
// they were allocated with, as `GlobalAlloc` requires of callers.
unsafe impl core::alloc::GlobalAlloc for UserHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        if heap.is_none() {
            *heap = Self::create();
        }
        heap.as_mut()
            .and_then(|h| h.allocate_first_fit(layout).ok())
            .map_or(core::ptr::null_mut(), core::ptr::NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        if let (Some(heap), Some(ptr)) = (self.0.lock().as_mut(), core::ptr::NonNull::new(ptr)) {
            // SAFETY: the caller passes a block this allocator returned,
            // with its layout.
            unsafe { heap.deallocate(ptr, layout) };
        }
    }
}

#[global_allocator]
static HEAP: UserHeap = UserHeap(spin::Mutex::new(None));
