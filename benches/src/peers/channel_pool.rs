//! The bare crossbeam-channel pool: N threads looping on one shared receiver.

use std::thread::{self, JoinHandle};

use crossbeam_channel::Sender;

/// A job of the minimal pools.
type Job = Box<dyn FnOnce() + Send>;

/// N threads, each `for job in receiver { job() }`. No growth, no panic handling, no results:
/// the least a pool can be, as a floor for the others. Dropping it closes the channel, lets the
/// queued jobs run, and joins the threads.
#[derive(Debug)]
pub struct ChannelPool {
    /// `None` once dropping: closing the channel is the stop signal.
    tx: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl ChannelPool {
    /// Starts `threads` workers.
    pub fn new(threads: usize) -> ChannelPool {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..threads)
            .map(|i| {
                let rx = rx.clone();
                thread::Builder::new()
                    .name(format!("xbeam-{i}"))
                    .spawn(move || {
                        for job in rx {
                            job();
                        }
                    })
                    .expect("spawn a crossbeam-channel worker")
            })
            .collect();
        ChannelPool {
            tx: Some(tx),
            threads,
        }
    }

    /// Queues `f`.
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.tx
            .as_ref()
            .expect("the channel is open until drop")
            .send(Box::new(f))
            .expect("the workers hold the receiver until the channel closes");
    }
}

impl Drop for ChannelPool {
    fn drop(&mut self) {
        drop(self.tx.take());
        for t in self.threads.drain(..) {
            // A panicked job took its worker down; nothing to report here.
            let _ = t.join();
        }
    }
}
