//! Which port the calling thread counts against, and [`blocking`].
//!
//! The kernel knows when a thread that runs on behalf of a completion port blocks (in any wait)
//! and lets another waiter go; a portable emulation cannot see a thread block, so the thread
//! says so: code inside [`blocking`] does not count against its port's concurrency limit, and
//! counts again when it leaves, at once, as the kernel lets a thread whose wait ended run (the
//! port then releases nobody until the count is back below the limit).
//!
//! Each thread is associated with at most one port at a time, as with the kernel (a thread's
//! port is the last one it waited on). The association lives in a thread-local; it is dropped
//! with the thread, freeing the thread's slot if it still held one.

use std::cell::RefCell;

use crate::sync::DynArc;

/// A port's side of a thread's slot.
pub(crate) trait Seat: Send + Sync {
    /// Which port this is (stable while the port lives).
    fn port_id(&self) -> usize;
    /// The thread stops counting against the port's limit (another waiter may be released).
    fn leave(&self);
    /// The thread counts again, at once (even above the limit: its wait ended).
    fn enter(&self);
}

/// The calling thread's port and whether it counts against that port's limit now.
struct Assoc {
    seat: DynArc<dyn Seat>,
    /// Holds one of the port's running slots.
    counted: bool,
}

impl Drop for Assoc {
    fn drop(&mut self) {
        if self.counted {
            self.seat.leave();
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static CURRENT: RefCell<Option<Assoc>> = const { RefCell::new(None) };
}

#[cfg(loom)]
loom::thread_local! {
    static CURRENT: RefCell<Option<Assoc>> = RefCell::new(None);
}

/// Whether the calling thread holds a running slot of port `id`.
pub(crate) fn counted_on(id: usize) -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|a| a.counted && a.seat.port_id() == id)
    })
}

/// Whether the calling thread is associated with port `id` (counted or inside [`blocking`]).
pub(crate) fn associated_with(id: usize) -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|a| a.seat.port_id() == id))
}

/// Ends the calling thread's association with any port other than `id`, freeing its slot there.
/// Called before the thread waits on port `id` (never with a port's lock held).
pub(crate) fn leave_other_than(id: usize) {
    let old = CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_some_and(|a| a.seat.port_id() != id) {
            c.take()
        } else {
            None
        }
    });
    drop(old);
}

/// Records whether the calling thread holds a slot of `seat`'s port (associating it with that
/// port). Does not touch the port's counts: the caller already did.
pub(crate) fn set(seat: &DynArc<dyn Seat>, counted: bool) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(a) if a.seat.port_id() == seat.port_id() => a.counted = counted,
            _ => {
                let old = c.replace(Assoc {
                    seat: DynArc::clone(seat),
                    counted,
                });
                debug_assert!(
                    old.as_ref().is_none_or(|a| !a.counted),
                    "a thread switched ports while counted on the old one"
                );
                if let Some(mut old) = old {
                    old.counted = false;
                }
            }
        }
    });
}

/// If the calling thread is associated with port `id`, records whether it holds a slot there and
/// returns true; false if it is not associated with that port.
pub(crate) fn recount(id: usize, counted: bool) -> bool {
    CURRENT.with(|c| match c.borrow_mut().as_mut() {
        Some(a) if a.seat.port_id() == id => {
            a.counted = counted;
            true
        }
        _ => false,
    })
}

/// Ends the calling thread's association with port `id` without touching the port's counts (the
/// caller already freed the slot).
pub(crate) fn clear(id: usize) {
    let old = CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_some_and(|a| a.seat.port_id() == id) {
            c.take()
        } else {
            None
        }
    });
    if let Some(mut old) = old {
        old.counted = false;
    }
}

/// Runs `f` as a blocking region: while it runs, the calling thread does not count against its
/// completion port's concurrency limit, so the port may release another waiter; when `f`
/// returns (or unwinds) the thread counts again and goes on at once, as the kernel lets a thread
/// whose wait ended run: the count may then exceed the limit for a while, and the port releases
/// no other waiter until it is back below (a pool worker over the limit waits for a slot before
/// its next job, [`crate::CompletionPort::checkpoint`]).
///
/// Outside a port's thread (or on a real Windows port, where the kernel sees the thread block by
/// itself) it just runs `f`.
///
/// ```
/// use pool_iocp::{IocpBuilder, blocking};
/// use pool_core::{Pool, PoolExt};
/// use std::time::Duration;
///
/// let pool = IocpBuilder::new().concurrency(1).max_workers(4).build().unwrap();
/// let _ = pool.start();
/// let h = pool.submit(|| blocking(|| std::thread::sleep(Duration::from_millis(1)))).unwrap();
/// h.join().unwrap();
/// pool.stop(Duration::from_secs(5));
/// ```
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let seat = CURRENT.with(|c| match c.borrow_mut().as_mut() {
        Some(a) if a.counted => {
            a.counted = false;
            Some(DynArc::clone(&a.seat))
        }
        _ => None,
    });
    let Some(seat) = seat else {
        return f();
    };
    seat.leave();
    /// Counts the thread again when the region ends, even by unwinding.
    struct Back(DynArc<dyn Seat>);
    impl Drop for Back {
        fn drop(&mut self) {
            self.0.enter();
            if !recount(self.0.port_id(), true) {
                set(&self.0, true);
            }
        }
    }
    let _back = Back(seat);
    f()
}
