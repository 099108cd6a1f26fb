//! Errors. Every error that refuses a job hands the job back.

use std::fmt;

/// A job was refused; the job is handed back inside.
pub enum PutError<J> {
    /// The queue is full and no room came before the deadline (policy `Reject`).
    Full(J),
    /// The pool is stopping or stopped.
    ShutDown(J),
}

impl<J> PutError<J> {
    /// The refused job.
    pub fn into_inner(self) -> J {
        match self {
            PutError::Full(j) | PutError::ShutDown(j) => j,
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
        match self {
            PutError::Full(_) => f.write_str("the pool's queue is full; the job is handed back"),
            PutError::ShutDown(_) => f.write_str("the pool is shut down; the job is handed back"),
        }
    }
}

impl<J> std::error::Error for PutError<J> {}

/// Why `start` failed.
#[derive(Debug)]
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
        }
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigError({self})")
    }
}

impl std::error::Error for ConfigError {}

/// Checks pool bounds: `max >= 1` (or unbounded) and `min <= max`.
pub fn validate_bounds(min: usize, max: Option<usize>) -> Result<(), ConfigError> {
    match max {
        Some(0) => Err(ConfigError::new(ConfigErrorKind::ZeroMax)),
        Some(max) if max < min => Err(ConfigError::new(ConfigErrorKind::MaxBelowMin { min, max })),
        _ => Ok(()),
    }
}
