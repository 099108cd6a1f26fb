//! [`IocpBuilder`]: pool-core's [`Builder`] plus what a completion port adds.

use std::fmt;

use pool_core::{Builder, ConfigError};

use crate::emulated::EmulatedPort;
use crate::pool::{IocpPool, PortError, PortErrorListener};
use crate::sync::DynArc;

/// pywin32's `ThreadPoolExtension.max_workers` default.
pub const DEFAULT_MAX_WORKERS: usize = 20;

/// Why a pool could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The configuration is invalid (the message names the values).
    Config(ConfigError),
    /// The OS refused to create the completion port.
    Port(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid pool configuration: {e}"),
            BuildError::Port(e) => write!(f, "could not create the completion port: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Port(e) => Some(e),
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::Config(e)
    }
}

/// Builds an [`IocpPool`]. Defaults: pool-core's [`Builder`] defaults except `max_workers` =
/// [`DEFAULT_MAX_WORKERS`] (20, as pywin32), and concurrency = the machine's cores (the
/// kernel's default for `CreateIoCompletionPort(.., 0)`).
///
/// ```
/// use pool_iocp::IocpBuilder;
/// let pool = IocpBuilder::new()
///     .max_workers(8)
///     .concurrency(2)
///     .configure(|b| b.min(1).capacity(100))
///     .build()
///     .unwrap();
/// # drop(pool);
/// ```
#[derive(Clone)]
pub struct IocpBuilder {
    builder: Builder,
    /// 0: the machine's parallelism.
    concurrency: usize,
    on_port_error: Option<PortErrorListener>,
}

impl Default for IocpBuilder {
    fn default() -> Self {
        IocpBuilder::new()
    }
}

impl IocpBuilder {
    /// The defaults (see the type's docs).
    pub fn new() -> IocpBuilder {
        IocpBuilder::from_builder(Builder::new().max(DEFAULT_MAX_WORKERS))
    }

    /// Everything `builder` says (its `max` included), concurrency = cores.
    pub fn from_builder(builder: Builder) -> IocpBuilder {
        IocpBuilder {
            builder,
            concurrency: 0,
            on_port_error: None,
        }
    }

    /// Most workers (pywin32 `max_workers`; pool-core `max`).
    pub fn max_workers(mut self, n: usize) -> IocpBuilder {
        self.builder = self.builder.max(n);
        self
    }

    /// The port's concurrency value: most workers running at once (0: the machine's cores).
    pub fn concurrency(mut self, n: usize) -> IocpBuilder {
        self.concurrency = n;
        self
    }

    /// Applies `f` to the underlying pool-core [`Builder`] (bounds, queue, policy, hooks, clock).
    pub fn configure(mut self, f: impl FnOnce(Builder) -> Builder) -> IocpBuilder {
        self.builder = f(self.builder);
        self
    }

    /// Listens to [`PortError`]s (unknown keys, failed waits and posts): quick, no calls into
    /// the pool (it may run under the pool's lock).
    pub fn on_port_error(mut self, f: impl Fn(&PortError) + Send + Sync + 'static) -> IocpBuilder {
        self.on_port_error = Some(DynArc::new(f));
        self
    }

    /// The pool on the platform's port: a real completion port on Windows, an
    /// [`EmulatedPort`] elsewhere.
    ///
    /// # Errors
    /// An invalid configuration, or (Windows) the OS refusing the port.
    pub fn build(self) -> Result<IocpPool, BuildError> {
        #[cfg(windows)]
        return self.build_windows();
        #[cfg(not(windows))]
        return Ok(self.build_emulated()?);
    }

    /// The pool on an [`EmulatedPort`] (any platform).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn build_emulated(self) -> Result<IocpPool<EmulatedPort<()>>, ConfigError> {
        let cfg = self.builder.config()?;
        let port = EmulatedPort::new(self.concurrency);
        Ok(IocpPool::with_port_and_listener(
            cfg,
            port,
            self.on_port_error,
        ))
    }

    /// The pool on a real completion port (Windows).
    ///
    /// # Errors
    /// An invalid configuration, or the OS refusing the port.
    #[cfg(windows)]
    pub fn build_windows(self) -> Result<IocpPool<crate::WindowsPort<()>>, BuildError> {
        let cfg = self.builder.config()?;
        let port = crate::WindowsPort::new(self.concurrency).map_err(BuildError::Port)?;
        Ok(IocpPool::with_port_and_listener(
            cfg,
            port,
            self.on_port_error,
        ))
    }
}

impl fmt::Debug for IocpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IocpBuilder")
            .field("builder", &self.builder)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}
