//! Pool configuration, its validation, and the error that names the bad values.

use std::fmt;
use std::time::Duration;

/// How long a worker above `min` may stay idle before it exits (60 s).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// How long a blocking `put` waits for room in a full queue (10 s, cheroot's
/// `accepted_queue_timeout`).
pub const DEFAULT_PUT_TIMEOUT: Duration = Duration::from_secs(10);

/// What happens to a job that finds the queue full when its wait for room ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Refuse it with [`Refused::Full`](crate::Refused::Full), counted in `rejected`.
    #[default]
    Reject,
    /// Run it on the caller's thread now; it gets an id and counts as completed or
    /// panicked, and in `caller_runs`.
    CallerRuns,
    /// Remove the oldest queued job, hand it to the eviction handler (counted in
    /// `rejected`), and enqueue the new job.
    DiscardOldest,
}

/// A pool's configuration. Plain data: build it, then [`validate`](Config::validate) it
/// (done by [`Model::new`](crate::Model::new)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Workers kept alive even when idle (idle timeouts never go below it).
    pub min: usize,
    /// Most workers started for admission or `grow`; `None` = unbounded. `Some(n)` needs
    /// `n >= 1` and `n >= min`.
    pub max: Option<usize>,
    /// Most jobs waiting in the queue (sentinels do not count); `None` = unbounded.
    /// `Some(c)` needs `c >= 1`.
    pub capacity: Option<usize>,
    /// Idle time after which a worker above `min` exits.
    pub keep_alive: Duration,
    /// How long a blocking `put` waits for room. Recorded only: the sequential model
    /// resolves every wait on a full queue as "deadline reached" at once.
    pub put_timeout: Duration,
    /// What a job that finds the queue full gets.
    pub policy: Policy,
}

impl Config {
    /// A configuration with the given bounds, no queue capacity, the default keep-alive
    /// and put timeout, and [`Policy::Reject`].
    #[must_use]
    pub const fn new(min: usize, max: Option<usize>) -> Self {
        Self {
            min,
            max,
            capacity: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
            put_timeout: DEFAULT_PUT_TIMEOUT,
            policy: Policy::Reject,
        }
    }

    /// The same configuration with queue capacity `capacity`.
    #[must_use]
    pub const fn with_capacity(mut self, capacity: Option<usize>) -> Self {
        self.capacity = capacity;
        self
    }

    /// The same configuration with keep-alive `keep_alive`.
    #[must_use]
    pub const fn with_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The same configuration with put timeout `put_timeout`.
    #[must_use]
    pub const fn with_put_timeout(mut self, put_timeout: Duration) -> Self {
        self.put_timeout = put_timeout;
        self
    }

    /// The same configuration with rejection policy `policy`.
    #[must_use]
    pub const fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Checks the bounds, then the capacity; the first violation is the error.
    ///
    /// # Errors
    /// [`ConfigErrorKind::ZeroMax`], [`ConfigErrorKind::MaxBelowMin`] or
    /// [`ConfigErrorKind::ZeroCapacity`], in that order of checking.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_bounds(self.min, self.max)?;
        if self.capacity == Some(0) {
            return Err(ConfigError::new(ConfigErrorKind::ZeroCapacity));
        }
        Ok(())
    }
}

/// Checks `min`/`max` as [`Config::validate`] and `resize` do: `max` first on its own,
/// then against `min`.
pub(crate) fn validate_bounds(min: usize, max: Option<usize>) -> Result<(), ConfigError> {
    match max {
        Some(0) => Err(ConfigError::new(ConfigErrorKind::ZeroMax)),
        Some(max) if max < min => Err(ConfigError::new(ConfigErrorKind::MaxBelowMin { min, max })),
        _ => Ok(()),
    }
}

/// Which rule a configuration broke, with the values involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// `max = Some(0)`: "max=0 must be >= 1 (or unbounded)".
    ZeroMax,
    /// `max < min`: "max={max} must be >= min={min}".
    MaxBelowMin {
        /// The requested minimum.
        min: usize,
        /// The requested maximum, smaller than `min`.
        max: usize,
    },
    /// `capacity = Some(0)`: "capacity=0 must be >= 1 (or unbounded)".
    ZeroCapacity,
}

/// A configuration (or `resize`) was refused. Its `Display` names the values, e.g.
/// `max=1 must be >= min=2`; [`kind`](ConfigError::kind) says which rule for matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigError {
    kind: ConfigErrorKind,
}

impl ConfigError {
    const fn new(kind: ConfigErrorKind) -> Self {
        Self { kind }
    }

    /// Which rule was broken.
    #[must_use]
    pub const fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ConfigErrorKind::ZeroMax => f.write_str("max=0 must be >= 1 (or unbounded)"),
            ConfigErrorKind::MaxBelowMin { min, max } => {
                write!(f, "max={max} must be >= min={min}")
            }
            ConfigErrorKind::ZeroCapacity => f.write_str("capacity=0 must be >= 1 (or unbounded)"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(config: Config) -> String {
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn max_below_min_message_names_both_values() {
        assert_eq!(message(Config::new(2, Some(1))), "max=1 must be >= min=2");
        assert_eq!(
            Config::new(2, Some(1)).validate().unwrap_err().kind(),
            ConfigErrorKind::MaxBelowMin { min: 2, max: 1 }
        );
    }

    #[test]
    fn max_zero_message_says_unbounded_is_the_alternative() {
        assert_eq!(
            message(Config::new(0, Some(0))),
            "max=0 must be >= 1 (or unbounded)"
        );
        // Checked before the comparison with min.
        assert_eq!(
            Config::new(3, Some(0)).validate().unwrap_err().kind(),
            ConfigErrorKind::ZeroMax
        );
    }

    #[test]
    fn capacity_zero_message_says_unbounded_is_the_alternative() {
        let config = Config::new(0, None).with_capacity(Some(0));
        assert_eq!(message(config), "capacity=0 must be >= 1 (or unbounded)");
        assert_eq!(
            config.validate().unwrap_err().kind(),
            ConfigErrorKind::ZeroCapacity
        );
    }

    #[test]
    fn valid_configs_pass() {
        assert_eq!(Config::new(0, None).validate(), Ok(()));
        assert_eq!(
            Config::new(2, Some(2)).with_capacity(Some(1)).validate(),
            Ok(())
        );
        assert_eq!(Config::new(5, None).validate(), Ok(()));
    }

    #[test]
    fn defaults_are_sixty_seconds_keep_alive_ten_seconds_put_timeout_reject() {
        let config = Config::new(1, Some(4));
        assert_eq!(config.keep_alive, Duration::from_secs(60));
        assert_eq!(config.put_timeout, Duration::from_secs(10));
        assert_eq!(config.policy, Policy::Reject);
        assert_eq!(config.capacity, None);
    }
}
