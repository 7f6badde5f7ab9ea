//! A minimal runtime for freestanding programs: `_start` calls the
//! program's `main(env_id) -> u64` and exits with its value; a panic prints
//! its message and exits with status 101; and a global allocator whose
//! heap — frames from `FRAME_ALLOC`, mapped at [`HEAP_BASE`] — is set up on
//! the first allocation, so programs that never allocate never pay for it;
//! and [`threads`], preemptive user-level threads scheduled in the
//! slice-end upcall.

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
pub const HEAP_BASE: u64 = crate::user_address(0x40_0000_0000);
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

/// Preemptive user-level threads, scheduled in the slice-end upcall.
///
/// The exokernel preempts the environment at the end of each time slice
/// and first tells it so with a `SLICE_END` upcall; this scheduler runs in
/// that upcall: it saves the interrupted thread's registers (the upcall
/// frame's context words) in its thread record, puts the next ready
/// thread's registers into the frame, and `UPCALL_RETURN`s into it. The
/// kernel never knows threads exist — it multiplexes the CPU among
/// environments, the runtime multiplexes the environment's slices among
/// threads.
pub mod threads {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicBool, Ordering};

    use exo_abi::upcall;

    /// Words of the x86_64 context image (docs/EXO_ABI.md order): the
    /// first two argument registers, the instruction and stack pointers,
    /// the flags and their initial value (IF set).
    #[cfg(target_arch = "x86_64")]
    mod word {
        pub const ARG0: usize = 5;
        pub const ARG1: usize = 4;
        pub const PC: usize = 15;
        pub const SP: usize = 16;
        pub const FLAGS: usize = 17;
        pub const FLAGS_VALUE: u64 = 0x202;
        /// The entry sees the stack as after a `call`.
        pub const SP_BIAS: u64 = 8;
    }
    /// Words of the aarch64 context image (docs/EXO_ABI.md order): x0,
    /// x1, PC, SP_EL0, PSTATE (EL0t, nothing masked).
    #[cfg(target_arch = "aarch64")]
    mod word {
        pub const ARG0: usize = 0;
        pub const ARG1: usize = 1;
        pub const PC: usize = 32;
        pub const SP: usize = 31;
        pub const FLAGS: usize = 33;
        pub const FLAGS_VALUE: u64 = 0;
        /// SP stays 16-byte aligned (SCTLR_EL1.SA0 checks it).
        pub const SP_BIAS: u64 = 0;
    }
    /// Bytes of stack per thread.
    const STACK: usize = 64 * 1024;

    struct Thread {
        context: [u64; upcall::CONTEXT_WORDS],
        done: bool,
        /// Keeps the stack alive while the thread runs on it.
        _stack: Option<Box<[u8]>>,
    }

    struct Scheduler {
        threads: Vec<Thread>,
        current: usize,
        switches: u64,
    }

    static SCHED: spin::Mutex<Option<Scheduler>> = spin::Mutex::new(None);
    static STARTED: AtomicBool = AtomicBool::new(false);

    #[repr(C, align(16))]
    struct UpcallStack([u8; 16 * 1024]);
    static mut UPCALL_STACK: UpcallStack = UpcallStack([0; 16 * 1024]);

    /// The slice-end upcall: switch threads.
    fn on_upcall(kind: u64, frame: *mut u64) -> ! {
        if kind == upcall::SLICE_END {
            // SAFETY: the kernel wrote a FRAME_WORDS-word frame at `frame`
            // on the upcall stack; nothing else touches it while we run.
            let words = unsafe { &mut *frame.cast::<[u64; upcall::FRAME_WORDS]>() };
            // A thread preempted while holding the scheduler lock keeps
            // running: try again next slice.
            if let Some(mut guard) = SCHED.try_lock()
                && let Some(s) = guard.as_mut()
            {
                let n = s.threads.len();
                let next = (1..=n)
                    .map(|k| (s.current + k) % n)
                    .find(|&i| !s.threads[i].done);
                if let Some(next) = next
                    && next != s.current
                {
                    let cur = s.current;
                    s.threads[cur]
                        .context
                        .copy_from_slice(&words[upcall::CONTEXT..]);
                    words[upcall::CONTEXT..].copy_from_slice(&s.threads[next].context);
                    s.current = next;
                    s.switches += 1;
                }
            }
        }
        crate::upcall_return(frame)
    }

    /// Turns the running code into thread 0 and installs the scheduler.
    fn start() {
        if STARTED.swap(true, Ordering::AcqRel) {
            return;
        }
        *SCHED.lock() = Some(Scheduler {
            threads: alloc::vec![Thread {
                context: [0; upcall::CONTEXT_WORDS],
                done: false,
                _stack: None
            }],
            current: 0,
            switches: 0,
        });
        let top = (&raw const UPCALL_STACK) as u64 + size_of::<UpcallStack>() as u64;
        let _ = crate::upcall_install(on_upcall, top);
    }

    extern "C" fn trampoline(entry: u64, arg: u64) -> ! {
        // SAFETY: `spawn` put a `fn(u64)` here.
        let f: fn(u64) = unsafe { core::mem::transmute::<usize, fn(u64)>(entry as usize) };
        f(arg);
        if let Some(s) = SCHED.lock().as_mut() {
            let cur = s.current;
            s.threads[cur].done = true;
        }
        // Finished: give the CPU away until the scheduler stops picking us.
        loop {
            crate::yield_now();
        }
    }

    /// Starts `f(arg)` on a new thread; returns its id.
    pub fn spawn(f: fn(u64), arg: u64) -> usize {
        start();
        let stack = alloc::vec![0u8; STACK].into_boxed_slice();
        let top = (stack.as_ptr() as u64 + STACK as u64) & !15;
        let mut context = [0u64; upcall::CONTEXT_WORDS];
        context[word::PC] = trampoline as *const () as u64;
        context[word::SP] = top - word::SP_BIAS;
        context[word::ARG0] = f as usize as u64;
        context[word::ARG1] = arg;
        context[word::FLAGS] = word::FLAGS_VALUE;
        let mut guard = SCHED.lock();
        let s = guard.as_mut().expect("started above");
        s.threads.push(Thread {
            context,
            done: false,
            _stack: Some(stack),
        });
        s.threads.len() - 1
    }

    /// Whether thread `id` has returned.
    #[must_use]
    pub fn finished(id: usize) -> bool {
        SCHED
            .lock()
            .as_ref()
            .is_some_and(|s| s.threads.get(id).is_some_and(|t| t.done))
    }

    /// Thread switches so far.
    #[must_use]
    pub fn switches() -> u64 {
        SCHED.lock().as_ref().map_or(0, |s| s.switches)
    }
}
