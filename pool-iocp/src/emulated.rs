//! [`EmulatedPort`]: a completion port with the kernel's rules, on pool-core's sync shim.
//!
//! One mutex guards the whole port ([`State`]). The kernel's rules, and how they are kept:
//!
//! - **Packets FIFO, each to one getter.** `queue` is a `VecDeque`; a packet leaves it once,
//!   under the lock, into a getter's hands (directly, or through `granted` for a woken waiter).
//! - **Waiters LIFO.** `getters` is a stack: [`dispatch`](State::dispatch) pops its top, the most
//!   recent waiter, whose stack and cache are still hot.
//! - **No release while `concurrency` run.** `running` counts threads that hold a slot: released
//!   by the port and not waiting on it again (nor inside [`crate::blocking`]). `dispatch`
//!   releases a waiter only while `running < concurrency`. As in the kernel, a thread whose wait
//!   ended (it left a blocking region, or its `get` timed out) runs at once and counts again,
//!   even if that takes `running` above `concurrency` for a while: the port then releases no one
//!   until the count is back below the limit. The excess lasts until such a thread asks the port
//!   again: a `get` (which, like `GetQueuedCompletionStatus`, first gives the slot up and then
//!   waits while the port is full) or a [`checkpoint`](CompletionPort::checkpoint) between two
//!   work items it did not dequeue from the port.
//!   Invariant: a thread is released (a getter given a packet, a `returning` thread its slot)
//!   only while `running < concurrency`; `running > concurrency` only through threads that came
//!   back from a wait and have not asked the port again.
//! - **Slots owed first.** A thread that needs a slot before it may run (a new worker attaching,
//!   a thread over the limit at a checkpoint) queues in `returning` and is served before any
//!   getter, so work already under way finishes before new work starts.
//! - **A running thread that asks again keeps its slot** if, its own slot given up, the port has
//!   room: a queued packet is taken at once, without waiting (the kernel's "hot thread stays
//!   hot").

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use pool_core::Clock;

use crate::port::{CompletionKey, CompletionPort, Packet, PostError};
use crate::seat::{self, Seat};
use crate::sync::{Arc, Condvar, DynArc, Mutex, MutexGuard, lock, wait, wait_timeout};

/// A portable completion port with the kernel's rules (see the module docs). Use it anywhere;
/// it is what [`crate::IocpPool`] runs on outside Windows, and what the concurrency limit is
/// tested against (Wine ignores a real port's limit).
///
/// ```
/// use pool_iocp::{CompletionKey, CompletionPort, EmulatedPort};
/// use std::time::Duration;
///
/// let port = EmulatedPort::new(2);
/// port.post(CompletionKey(1), "hello").unwrap();
/// let p = port.get(Some(Duration::ZERO)).unwrap().expect("a packet");
/// assert_eq!((p.key, p.payload), (CompletionKey(1), "hello"));
/// assert!(port.get(Some(Duration::ZERO)).unwrap().is_none(), "nothing yet");
/// port.detach();
/// ```
pub struct EmulatedPort<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    /// The most threads running at once (at least 1).
    concurrency: usize,
    state: Mutex<State<T>>,
}

/// Everything the port's lock guards.
struct State<T> {
    /// Posted packets not yet handed to anyone, oldest first.
    queue: VecDeque<Packet<T>>,
    /// Threads waiting in `get`, the most recent last (released from the top: LIFO).
    getters: Vec<DynArc<Waiter>>,
    /// Threads waiting for their slot back, oldest first; served before `getters`.
    returning: VecDeque<DynArc<Waiter>>,
    /// What `dispatch` gave to woken waiters that have not picked it up yet, by waiter key.
    granted: Vec<(u64, Grant<T>)>,
    /// Threads holding a slot. Invariant: nobody is released while `running >= concurrency`
    /// (threads back from a wait may hold it above `concurrency`; module docs).
    running: usize,
    /// The next waiter's key.
    next_key: u64,
}

/// A waiting thread: its key in `granted` and the condvar it sleeps on.
struct Waiter {
    key: u64,
    cv: Condvar,
}

/// What a woken waiter finds waiting for it.
enum Grant<T> {
    /// A packet (and a slot with it).
    Packet(Packet<T>),
    /// Its slot back.
    Slot,
}

/// How long a getter waits.
#[derive(Clone, Copy)]
enum Until<'a> {
    /// Until a packet comes.
    Forever,
    /// Until this instant of real time.
    Real(Instant),
    /// Until this time on the pool's clock (`None`: no deadline), or until interrupted.
    Clock(&'a Clock, Option<Duration>, &'a dyn Fn() -> bool),
}

impl Until<'_> {
    fn passed(&self) -> bool {
        match *self {
            Until::Forever => false,
            Until::Real(t) => Instant::now() >= t,
            Until::Clock(c, d, interrupted) => interrupted() || d.is_some_and(|d| c.now() >= d),
        }
    }

    /// How long to sleep before looking again (`None`: until woken).
    fn sleep(&self) -> Option<Duration> {
        match *self {
            Until::Forever => None,
            Until::Real(t) => Some(t.saturating_duration_since(Instant::now())),
            // A manual clock wakes the port when it moves (`wake_getters`), as does an interrupt.
            Until::Clock(_, None, _) => None,
            Until::Clock(c, _, _) if c.is_manual() => None,
            Until::Clock(c, Some(d), _) => Some(d.saturating_sub(c.now())),
        }
    }
}

impl<T> State<T> {
    /// Hands out slots while there is room (`running < concurrency`): first to threads owed
    /// one, then the oldest queued packet to the most recent getter.
    fn dispatch(&mut self, concurrency: usize) {
        while self.running < concurrency {
            if let Some(w) = self.returning.pop_front() {
                self.grant(&w, Grant::Slot, concurrency);
            } else if !self.queue.is_empty()
                && let Some(w) = self.getters.pop()
            {
                let Some(p) = self.queue.pop_front() else {
                    unreachable!("the queue is not empty")
                };
                self.grant(&w, Grant::Packet(p), concurrency);
            } else {
                break;
            }
        }
    }

    fn grant(&mut self, w: &Waiter, g: Grant<T>, concurrency: usize) {
        debug_assert!(
            self.running < concurrency,
            "a thread was released while {} of {concurrency} ran",
            self.running
        );
        self.running += 1;
        self.granted.push((w.key, g));
        w.cv.notify_one();
    }

    fn take_grant(&mut self, key: u64) -> Option<Grant<T>> {
        let i = self.granted.iter().position(|(k, _)| *k == key)?;
        Some(self.granted.swap_remove(i).1)
    }

    fn new_waiter(&mut self) -> DynArc<Waiter> {
        let key = self.next_key;
        self.next_key += 1;
        DynArc::new(Waiter {
            key,
            cv: Condvar::new(),
        })
    }
}

impl<T: Send + 'static> EmulatedPort<T> {
    /// A port that lets at most `concurrency` threads run at once (0 means the machine's
    /// parallelism, as `CreateIoCompletionPort` reads it).
    pub fn new(concurrency: usize) -> EmulatedPort<T> {
        let concurrency = if concurrency == 0 {
            pool_core::__backend::available_parallelism()
        } else {
            concurrency
        };
        EmulatedPort {
            inner: Arc::new(Inner {
                concurrency,
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    getters: Vec::new(),
                    returning: VecDeque::new(),
                    granted: Vec::new(),
                    running: 0,
                    next_key: 0,
                }),
            }),
        }
    }

    /// Threads holding a slot now (for tests and stats).
    pub fn running(&self) -> usize {
        lock(&self.inner.state).running
    }

    /// Threads waiting in `get` now.
    pub fn waiters(&self) -> usize {
        lock(&self.inner.state).getters.len()
    }

    /// Packets queued now.
    pub fn queued(&self) -> usize {
        lock(&self.inner.state).queue.len()
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner).cast::<()>() as usize
    }

    fn seat(&self) -> DynArc<dyn Seat> {
        DynArc::new(SeatOf(Arc::clone(&self.inner)))
    }

    /// The thread now holds a slot of this port.
    fn mark_counted(&self) {
        if !seat::recount(self.id(), true) {
            seat::set(&self.seat(), true);
        }
    }

    /// Dequeues one packet, waiting as `until` says (see [`CompletionPort::get`]).
    fn take(&self, until: Until<'_>) -> Option<Packet<T>> {
        let id = self.id();
        seat::leave_other_than(id);
        let me = seat::counted_on(id);
        let conc = self.inner.concurrency;
        let mut st = lock(&self.inner.state);
        // A running thread gives its slot up and may take a queued packet at once if that leaves
        // room (it keeps the slot); one that is not running may take it only if a slot is free
        // and nobody is owed one.
        let room = if me {
            st.running <= conc
        } else {
            st.running < conc && st.returning.is_empty()
        };
        if room && let Some(p) = st.queue.pop_front() {
            if !me {
                st.running += 1;
                drop(st);
                self.mark_counted();
            }
            return Some(p);
        }
        if until.passed() {
            return None;
        }
        if me {
            st.running -= 1;
        }
        let w = st.new_waiter();
        st.getters.push(DynArc::clone(&w));
        st.dispatch(conc);
        loop {
            match st.take_grant(w.key) {
                Some(Grant::Packet(p)) => {
                    drop(st);
                    self.mark_counted();
                    return Some(p);
                }
                Some(Grant::Slot) => unreachable!("a getter is only ever given a packet"),
                None => {}
            }
            if until.passed() {
                let i = st.getters.iter().position(|g| g.key == w.key);
                debug_assert!(i.is_some(), "an ungranted getter is still on the stack");
                if let Some(i) = i {
                    st.getters.remove(i);
                }
                // It returns empty-handed and runs at once (above the limit if the port is
                // full), as a thread whose wait ended does.
                st.running += 1;
                drop(st);
                self.mark_counted();
                return None;
            }
            st = match until.sleep() {
                None => wait(&w.cv, st),
                Some(d) => wait_timeout(&w.cv, st, d),
            };
        }
    }

    /// Takes a slot, waiting behind every thread already waiting for one.
    fn enter_slot(&self) {
        let conc = self.inner.concurrency;
        let mut st = lock(&self.inner.state);
        if st.running < conc && st.returning.is_empty() {
            st.running += 1;
            return;
        }
        Self::wait_for_slot(st, conc);
    }

    /// Queues the caller (holding no slot) behind the threads owed one and waits for its own.
    fn wait_for_slot(mut st: MutexGuard<'_, State<T>>, conc: usize) {
        let w = st.new_waiter();
        st.returning.push_back(DynArc::clone(&w));
        st.dispatch(conc);
        loop {
            match st.take_grant(w.key) {
                Some(Grant::Slot) => return,
                Some(Grant::Packet(_)) => unreachable!("a returning thread is only given a slot"),
                None => st = wait(&w.cv, st),
            }
        }
    }
}

/// A thread's slot on an [`EmulatedPort`] (see [`crate::seat`]).
struct SeatOf<T>(Arc<Inner<T>>);

impl<T: Send + 'static> Seat for SeatOf<T> {
    fn port_id(&self) -> usize {
        Arc::as_ptr(&self.0).cast::<()>() as usize
    }

    fn leave(&self) {
        let mut st = lock(&self.0.state);
        debug_assert!(st.running > 0, "a thread left a slot it did not hold");
        st.running -= 1;
        st.dispatch(self.0.concurrency);
    }

    fn enter(&self) {
        // A thread whose wait ended runs at once, even above the limit (module docs).
        lock(&self.0.state).running += 1;
    }
}

impl<T: Send + 'static> CompletionPort<T> for EmulatedPort<T> {
    fn post(&self, key: CompletionKey, payload: T) -> Result<(), PostError<T>> {
        let mut st = lock(&self.inner.state);
        st.queue.push_back(Packet { key, payload });
        st.dispatch(self.inner.concurrency);
        Ok(())
    }

    fn get(&self, timeout: Option<Duration>) -> io::Result<Option<Packet<T>>> {
        let until = match timeout {
            None => Until::Forever,
            Some(d) => Instant::now()
                .checked_add(d)
                .map_or(Until::Forever, Until::Real),
        };
        Ok(self.take(until))
    }

    fn get_many(&self, max: usize, timeout: Option<Duration>) -> io::Result<Vec<Packet<T>>> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        if let Some(first) = self.get(timeout)? {
            out.push(first);
            // Running now: the rest come without waiting, as GetQueuedCompletionStatusEx takes
            // whatever is queued along with the first.
            let mut st = lock(&self.inner.state);
            while out.len() < max {
                match st.queue.pop_front() {
                    Some(p) => out.push(p),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    fn get_until(
        &self,
        clock: &Clock,
        deadline: Option<Duration>,
        interrupted: &dyn Fn() -> bool,
    ) -> io::Result<Option<Packet<T>>> {
        Ok(self.take(Until::Clock(clock, deadline, interrupted)))
    }

    fn wake_getters(&self) {
        let st = lock(&self.inner.state);
        for w in &st.getters {
            w.cv.notify_one();
        }
    }

    fn attach(&self) {
        let id = self.id();
        if seat::counted_on(id) {
            return;
        }
        if !seat::associated_with(id) {
            seat::leave_other_than(id);
        }
        self.enter_slot();
        self.mark_counted();
    }

    fn checkpoint(&self) {
        let id = self.id();
        if !seat::counted_on(id) {
            return;
        }
        let conc = self.inner.concurrency;
        let mut st = lock(&self.inner.state);
        if st.running <= conc {
            return;
        }
        // Over the limit (threads came back from waits): give the slot up and wait for one,
        // as a thread calling GetQueuedCompletionStatus on a full port does.
        st.running -= 1;
        Self::wait_for_slot(st, conc);
    }

    fn detach(&self) {
        let id = self.id();
        if seat::counted_on(id) {
            let mut st = lock(&self.inner.state);
            st.running -= 1;
            st.dispatch(self.inner.concurrency);
        }
        seat::clear(id);
    }

    fn drain(&self) -> Vec<Packet<T>> {
        lock(&self.inner.state).queue.drain(..).collect()
    }
}

impl<T> fmt::Debug for EmulatedPort<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.inner.state);
        f.debug_struct("EmulatedPort")
            .field("concurrency", &self.inner.concurrency)
            .field("running", &st.running)
            .field("queued", &st.queue.len())
            .field("getters", &st.getters.len())
            .field("returning", &st.returning.len())
            .finish()
    }
}
