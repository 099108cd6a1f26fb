//! Time as an input.
//!
//! Every deadline a pool keeps (idle keep-alive, put timeouts, stop deadlines,
//! `await_termination`) is read from a [`Clock`]. [`Clock::system`] is real monotonic time;
//! [`Clock::manual`] only moves when a test calls [`ManualClock::advance`], which wakes every
//! pool waiting on it so it can re-check its deadlines. Loom cannot model time, so loom models use
//! the manual clock.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Arc, DynArc, Mutex, lock};

/// Something that must re-check its deadlines when a manual clock moves.
pub trait ClockListener: Send + Sync {
    /// Called after the clock has advanced. Must not block for long.
    fn clock_advanced(&self);
}

/// A source of monotonic time, as a [`Duration`] since the clock's own epoch.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

enum Inner {
    System(Instant),
    Manual(ManualState),
}

struct ManualState {
    /// Current time since the epoch; only `advance` changes it, and only forward.
    now: Mutex<Duration>,
    /// Pools waiting on this clock; `advance` calls each one after moving time.
    listeners: Mutex<Vec<(u64, DynArc<dyn ClockListener>)>>,
    /// Next listener key.
    next_key: Mutex<u64>,
}

/// The stepping handle of a manual clock.
#[derive(Clone)]
pub struct ManualClock {
    clock: Clock,
}

/// Registration of a listener; dropping it unsubscribes.
pub(crate) struct Subscription {
    clock: Clock,
    key: Option<u64>,
}

impl Clock {
    /// Real monotonic time.
    pub fn system() -> Clock {
        Clock {
            inner: Arc::new(Inner::System(Instant::now())),
        }
    }

    /// A clock that only moves when the returned [`ManualClock`] advances it; starts at zero.
    pub fn manual() -> (Clock, ManualClock) {
        let clock = Clock {
            inner: Arc::new(Inner::Manual(ManualState {
                now: Mutex::new(Duration::ZERO),
                listeners: Mutex::new(Vec::new()),
                next_key: Mutex::new(0),
            })),
        };
        (clock.clone(), ManualClock { clock })
    }

    /// Time since this clock's epoch.
    pub fn now(&self) -> Duration {
        match &*self.inner {
            Inner::System(epoch) => epoch.elapsed(),
            Inner::Manual(m) => *lock(&m.now),
        }
    }

    /// Whether this clock is stepped by hand.
    pub fn is_manual(&self) -> bool {
        matches!(&*self.inner, Inner::Manual(_))
    }

    /// `now + d`, saturating instead of overflowing (a huge timeout means "no deadline").
    pub fn deadline_after(&self, d: Duration) -> Duration {
        self.now().saturating_add(d)
    }

    /// How long a waiter should sleep on a condvar before re-checking `deadline`: `None` means
    /// wait untimed (no deadline, or a manual clock, which wakes its listeners itself).
    pub(crate) fn wait_for(&self, deadline: Option<Duration>) -> Option<Duration> {
        match (&*self.inner, deadline) {
            (Inner::System(epoch), Some(d)) => Some(d.saturating_sub(epoch.elapsed())),
            // A deadline already behind a manual clock must not wait for the next step.
            (Inner::Manual(m), Some(d)) if *lock(&m.now) >= d => Some(Duration::ZERO),
            _ => None,
        }
    }

    /// Subscribes `listener` to clock advances (a no-op for the system clock).
    pub(crate) fn subscribe(&self, listener: DynArc<dyn ClockListener>) -> Subscription {
        let key = match &*self.inner {
            Inner::System(_) => None,
            Inner::Manual(m) => {
                let mut next = lock(&m.next_key);
                let key = *next;
                *next += 1;
                lock(&m.listeners).push((key, listener));
                Some(key)
            }
        };
        Subscription {
            clock: self.clone(),
            key,
        }
    }
}

impl ManualClock {
    /// Moves time forward by `d` and wakes every pool waiting on this clock.
    pub fn advance(&self, d: Duration) {
        let Inner::Manual(m) = &*self.clock.inner else {
            unreachable!("a ManualClock is manual")
        };
        {
            let mut now = lock(&m.now);
            *now = now.saturating_add(d);
        }
        let listeners: Vec<_> = lock(&m.listeners)
            .iter()
            .map(|(_, l)| DynArc::clone(l))
            .collect();
        for l in listeners {
            l.clock_advanced();
        }
    }

    /// Current time of the clock.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The clock to hand to a pool.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let (Some(key), Inner::Manual(m)) = (self.key, &*self.clock.inner) {
            lock(&m.listeners).retain(|(k, _)| *k != key);
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_manual() { "manual" } else { "system" };
        f.debug_struct("Clock")
            .field("kind", &kind)
            .field("now", &self.now())
            .finish()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}
