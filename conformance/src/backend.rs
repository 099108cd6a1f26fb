//! What the kit checks: a named pool factory, and what the pool behind it can express.

use std::fmt;
use std::sync::Arc;

use pool_core::{Builder, ConfigError, Pool};

/// Builds a pool of one backend from a configured [`Builder`].
type Factory = dyn Fn(Builder) -> Result<Box<dyn Pool>, ConfigError> + Send + Sync;

/// A backend under test: a name for the report and a factory the kit calls with a [`Builder`]
/// it has configured (bounds, capacity, policy, a manual clock, an event listener, hooks).
///
/// ```
/// let classic = conformance::Backend::new("classic", pool_core::Builder::classic);
/// assert_eq!(classic.name(), "classic");
/// ```
#[derive(Clone)]
pub struct Backend {
    name: String,
    make: Arc<Factory>,
    caps: Caps,
}

impl Backend {
    /// A backend of this workspace: `make` honours everything a [`Builder`] says (for a
    /// backend, that is `Builder::classic`, `Builder::fast`, ...).
    pub fn new<P, F>(name: impl Into<String>, make: F) -> Backend
    where
        P: Pool + 'static,
        F: Fn(Builder) -> Result<P, ConfigError> + Send + Sync + 'static,
    {
        Backend {
            name: name.into(),
            make: Arc::new(move |b| make(b).map(|p| Box::new(p) as Box<dyn Pool>)),
            caps: Caps::FULL,
        }
    }

    /// The same backend, declaring that it can only express `caps` (for adapters of peers,
    /// which ignore part of what a [`Builder`] says). Checks that need more are reported as
    /// unsupported instead of run.
    #[must_use]
    pub fn with_caps(mut self, caps: Caps) -> Backend {
        self.caps = caps;
        self
    }

    /// The name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the backend can express.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Builds a pool from `builder`.
    ///
    /// # Errors
    /// The configuration error the backend reports.
    pub fn build(&self, builder: Builder) -> Result<Box<dyn Pool>, ConfigError> {
        (self.make)(builder)
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

/// What a backend honours of the [`Builder`] and the [`Pool`] contract. Every backend of the
/// workspace honours everything ([`Caps::FULL`]); adapters of peer crates declare less, and the
/// checks that need the rest are reported as unsupported (with the reason) rather than run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Reports lifecycle events to `Builder::on_event` (the lock-step run and the histories
    /// follow the pool's threads through them).
    pub events: bool,
    /// Reads every deadline from `Builder::clock` (idle keep-alive, put and stop deadlines).
    pub clock: bool,
    /// Runs the `before_job`/`after_job` hooks and the panic handler.
    pub hooks: bool,
    /// Honours `Builder::capacity` and the rejection policies.
    pub bounded_queue: bool,
    /// Keeps jobs queued before `start` until it is called, and starts no thread before.
    pub deferred_start: bool,
    /// Keeps `min` workers and grows on demand up to `max` (rather than a fixed set).
    pub elastic: bool,
    /// Can take back queued jobs (`stop_now`).
    pub stop_now: bool,
}

impl Caps {
    /// Everything: the backends of this workspace.
    pub const FULL: Caps = Caps {
        events: true,
        clock: true,
        hooks: true,
        bounded_queue: true,
        deferred_start: true,
        elastic: true,
        stop_now: true,
    };

    /// Nothing beyond running closures, joining and stopping.
    pub const BASIC: Caps = Caps {
        events: false,
        clock: false,
        hooks: false,
        bounded_queue: false,
        deferred_start: false,
        elastic: false,
        stop_now: false,
    };
}
