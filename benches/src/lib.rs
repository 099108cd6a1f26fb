//! `benches`: every workload of the benchmark suite, run on every backend of the workspace and on
//! the peers it is measured against.
//!
//! - [`Subject`] is the one interface a pool under test is driven through; [`subjects()`] is the
//!   single list of factories (workspace backends first, then peers) that every workload, the
//!   criterion benches and the report iterate over.
//! - [`workloads`] holds the workloads (W1–W6), written once over `&dyn Subject`; [`waiter`]
//!   the ways W2's caller waits for its job, each subject through the one its users use.
//! - [`report`] renders the results as Markdown, SVG and JSON; [`machine`] describes the host.
//! - `cargo run --release -p benches --bin report [-- --quick]` writes `docs/benchmarks.md`,
//!   `docs/benchmarks.svg` and `<target dir>/bench-report.json`; `cargo bench -p benches` runs
//!   the same workloads under criterion.
//!
//! ```
//! use benches::{Countdown, Sizing, Task, Work, subjects};
//!
//! for factory in subjects() {
//!     let Ok(pool) = factory.build(Sizing::fixed(2)) else {
//!         continue; // e.g. `blocking`, whose size is fixed per process
//!     };
//!     let done = Countdown::this_thread(10);
//!     for _ in 0..10 {
//!         pool.execute(Task::new(Work::Empty, done));
//!     }
//!     done.wait();
//!     pool.submit_wait(Work::Empty);
//! }
//! ```

#![forbid(unsafe_code)]

pub mod cpu;
pub mod http;
pub mod machine;
pub mod peers;
pub mod report;
pub mod stats;
mod subject;
mod subjects;
pub mod waiter;
pub mod workloads;

pub use subject::{Countdown, Factory, Kind, Sizing, Subject, Task, Unsupported, Work};
pub use subjects::subjects;
pub use waiter::{Waited, Waiter};
