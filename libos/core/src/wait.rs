//! Waiting: what a blocking operation does while it cannot proceed.
//!
//! The libOS blocks inside its own code (a pipe read with no data, a futex
//! wait, `waitpid`): it polls its condition and, between polls, calls the
//! installed [`Waiter`] — the libOS thread scheduler switches to another
//! thread there; a hosted program yields its host thread; a bare-metal
//! environment with one thread gives its slice back to the kernel.

use alloc::boxed::Box;

use spin::Once;

/// Called between polls of a condition that is not yet true.
pub type Waiter = Box<dyn Fn() + Send + Sync>;

static WAITER: Once<Waiter> = Once::new();

/// Installs the process-wide waiter (first call wins).
pub fn install(waiter: Waiter) {
    WAITER.call_once(|| waiter);
}

/// Lets something else run once.
pub fn pause() {
    match WAITER.get() {
        Some(w) => w(),
        None => core::hint::spin_loop(),
    }
}

/// Polls `ready` until it yields a value, pausing in between.
pub fn until<T>(mut ready: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(v) = ready() {
            return v;
        }
        pause();
    }
}
