//! Errors. Every error that refuses a job hands the job back.

use std::fmt;

/// A job was refused; the job is handed back inside.
///
/// [`PutError::into_inner`] gives the job back; [`PutError::kind`] says why without it. The
/// kind is a payload-free, `Copy`, `Send + Sync` error of its own, so `?` can carry a refusal
/// into `anyhow` or `Box<dyn Error + Send + Sync>` even when the closure is not `Sync`:
///
/// ```
/// use pool_core::{Builder, Pool, PoolExt, PutError, PutErrorKind};
/// use std::time::Duration;
///
/// let pool = Builder::new().fixed(1).fast()?;
/// pool.stop(Duration::from_secs(5));
/// let refused = pool.execute(|| println!("never runs")).unwrap_err();
/// assert_eq!(refused.kind(), PutErrorKind::ShutDown);
/// let job = refused.into_inner(); // the closure itself, to run elsewhere or drop
/// job();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum PutError<J> {
    /// The queue is full and no room came before the deadline (policy `Reject`).
    Full(J),
    /// The pool is stopping or stopped.
    ShutDown(J),
}

/// Why a job was refused, without the job: [`PutError::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PutErrorKind {
    /// The queue was full ([`PutError::Full`]).
    Full,
    /// The pool was stopping or stopped ([`PutError::ShutDown`]).
    ShutDown,
}

impl fmt::Display for PutErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutErrorKind::Full => "the pool's queue is full",
            PutErrorKind::ShutDown => "the pool is shut down",
        })
    }
}

impl std::error::Error for PutErrorKind {}

impl<J> PutError<J> {
    /// The refused job.
    pub fn into_inner(self) -> J {
        match self {
            PutError::Full(j) | PutError::ShutDown(j) => j,
        }
    }

    /// Why the job was refused, without the job.
    pub fn kind(&self) -> PutErrorKind {
        match self {
            PutError::Full(_) => PutErrorKind::Full,
            PutError::ShutDown(_) => PutErrorKind::ShutDown,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether the pool was shut down.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }

    /// The same error around another value.
    pub fn map<K>(self, f: impl FnOnce(J) -> K) -> PutError<K> {
        match self {
            PutError::Full(j) => PutError::Full(f(j)),
            PutError::ShutDown(j) => PutError::ShutDown(f(j)),
        }
    }
}

impl<J> fmt::Debug for PutError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<J> fmt::Display for PutError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; the job is handed back", self.kind())
    }
}

impl<J> std::error::Error for PutError<J> {}

/// Why `start` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartError {
    /// `start` was already called.
    AlreadyStarted,
    /// The pool was stopped before it started.
    ShutDown,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AlreadyStarted => f.write_str("the pool is already started"),
            StartError::ShutDown => f.write_str("the pool was stopped before it started"),
        }
    }
}

impl std::error::Error for StartError {}

/// A bad pool configuration; the message names the values.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
}

/// Which rule a configuration broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// `max` is below `min`.
    MaxBelowMin {
        /// The minimum asked for.
        min: usize,
        /// The maximum asked for.
        max: usize,
    },
    /// `max` is zero.
    ZeroMax,
    /// The queue capacity is zero.
    ZeroCapacity,
    /// A worker bound (`min` or `max`) is above the most workers the backend runs.
    TooManyWorkers {
        /// `"min"` or `"max"`.
        bound: &'static str,
        /// The value asked for.
        value: usize,
        /// The backend's limit.
        limit: usize,
        /// The backend's name.
        backend: &'static str,
    },
    /// The queue capacity is above the most the backend can track.
    CapacityTooLarge {
        /// The capacity asked for.
        capacity: usize,
        /// The backend's limit.
        limit: usize,
        /// The backend's name.
        backend: &'static str,
    },
    /// The thread-name prefix contains a NUL byte, which no OS thread name can hold.
    NulInThreadName,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind) -> ConfigError {
        ConfigError { kind }
    }

    /// The rule that was broken.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ConfigErrorKind::MaxBelowMin { min, max } => {
                write!(f, "max={max} must be >= min={min}")
            }
            ConfigErrorKind::ZeroMax => f.write_str("max=0 must be >= 1 (or unbounded)"),
            ConfigErrorKind::ZeroCapacity => f.write_str("capacity=0 must be >= 1 (or unbounded)"),
            ConfigErrorKind::TooManyWorkers {
                bound,
                value,
                limit,
                backend,
            } => write!(
                f,
                "{bound}={value} is above the {backend} backend's limit of {limit} workers"
            ),
            ConfigErrorKind::CapacityTooLarge {
                capacity,
                limit,
                backend,
            } => write!(
                f,
                "capacity={capacity} is above the {backend} backend's limit of {limit} queued jobs (or unbounded)"
            ),
            ConfigErrorKind::NulInThreadName => {
                f.write_str("thread_name must not contain a NUL byte")
            }
        }
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigError({self})")
    }
}

impl std::error::Error for ConfigError {}

/// Checks bounds and capacity against a backend's limits (after [`validate_bounds`]): `min` and
/// `max` at most `worker_limit`, the capacity at most `capacity_limit`.
pub(crate) fn validate_limits(
    backend: &'static str,
    (min, max, capacity): (usize, Option<usize>, Option<usize>),
    worker_limit: usize,
    capacity_limit: usize,
) -> Result<(), ConfigError> {
    for (bound, value) in [("min", Some(min)), ("max", max)] {
        if let Some(value) = value.filter(|&v| v > worker_limit) {
            return Err(ConfigError::new(ConfigErrorKind::TooManyWorkers {
                bound,
                value,
                limit: worker_limit,
                backend,
            }));
        }
    }
    match capacity {
        Some(capacity) if capacity > capacity_limit => {
            Err(ConfigError::new(ConfigErrorKind::CapacityTooLarge {
                capacity,
                limit: capacity_limit,
                backend,
            }))
        }
        _ => Ok(()),
    }
}

/// Checks pool bounds: `max >= 1` (or unbounded) and `min <= max`.
///
/// # Errors
/// [`ConfigErrorKind::ZeroMax`] for `max = Some(0)`, [`ConfigErrorKind::MaxBelowMin`] for
/// `max < min`; the message names the values (`max=1 must be >= min=2`).
pub fn validate_bounds(min: usize, max: Option<usize>) -> Result<(), ConfigError> {
    match max {
        Some(0) => Err(ConfigError::new(ConfigErrorKind::ZeroMax)),
        Some(max) if max < min => Err(ConfigError::new(ConfigErrorKind::MaxBelowMin { min, max })),
        _ => Ok(()),
    }
}
