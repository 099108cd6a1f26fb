//! [`WindowsPort`]: a real I/O completion port (`windows-sys`), Windows only.
//!
//! A payload travels through the kernel as the packet's `OVERLAPPED` pointer: `post` turns a
//! `Box<T>` into a raw pointer, the kernel hands the packet to exactly one dequeuer, and that
//! dequeuer turns the pointer back into the `Box<T>` (the only `from_raw` of it). The kernel
//! never reads through a posted packet's `OVERLAPPED` pointer (no I/O was started on it); it is an
//! opaque word. Packets still queued when the port is dropped are dequeued and dropped, and
//! [`CompletionPort::drain`] hands them back first, so a payload is never leaked.
//!
//! Every Win32 call's result is checked and turned into an [`io::Error`]; `WAIT_TIMEOUT` is
//! "nothing yet" (`Ok(None)`), as in mio's `sys/windows/iocp.rs`.

use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT};
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatus, GetQueuedCompletionStatusEx, OVERLAPPED,
    OVERLAPPED_ENTRY, PostQueuedCompletionStatus,
};
use windows_sys::Win32::System::Threading::INFINITE;

use crate::port::{CompletionKey, CompletionPort, Packet, PostError};

/// An owned kernel handle, closed on drop.
struct Handle(HANDLE);

// SAFETY: a HANDLE is an opaque reference to a kernel object, valid in every thread of the
// process; the completion-port calls made through it are thread-safe by the kernel's contract.
unsafe impl Send for Handle {}
// SAFETY: as above; `&Handle` only reads the handle value.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a handle this struct owns (from a successful
        // `CreateIoCompletionPort`), closed exactly once, here.
        let ok = unsafe { CloseHandle(self.0) };
        if ok == 0 {
            tracing::error!(target: "pool", error = %io::Error::last_os_error(), "CloseHandle failed");
        }
    }
}

/// A real Windows I/O completion port carrying payloads of type `T` (see the module docs).
///
/// ```
/// # #[cfg(windows)] {
/// use pool_iocp::{CompletionKey, CompletionPort, WindowsPort};
/// use std::time::Duration;
///
/// let port = WindowsPort::new(2).unwrap();
/// port.post(CompletionKey(1), String::from("hello")).unwrap();
/// let p = port.get(Some(Duration::ZERO)).unwrap().expect("a packet");
/// assert_eq!(p.payload, "hello");
/// assert!(port.get(Some(Duration::ZERO)).unwrap().is_none(), "nothing yet");
/// # }
/// ```
pub struct WindowsPort<T> {
    handle: Handle,
    concurrency: usize,
    /// Payloads of type `T` are owned by the port while queued; `*const T` keeps the auto
    /// traits off (see the `unsafe impl`s).
    _payload: PhantomData<*const T>,
}

// SAFETY: the port owns queued payloads and moves each to exactly one thread (the dequeuer);
// nothing is shared, so `T: Send` is all a move between threads needs. The handle is Send.
unsafe impl<T: Send> Send for WindowsPort<T> {}
// SAFETY: `&WindowsPort` allows posting (moving a `T` in) and dequeuing (moving one out) from
// any thread; a payload is never reachable from two threads at once, so `T: Send` suffices.
unsafe impl<T: Send> Sync for WindowsPort<T> {}

/// `timeout` in the milliseconds Win32 waits take (rounded up, `None` = `INFINITE`).
fn millis(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => INFINITE,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
        }
    }
}

impl<T: Send> WindowsPort<T> {
    /// A new completion port that lets `concurrency` threads run at once (0: as many as the
    /// machine has processors, the kernel's default).
    ///
    /// # Errors
    /// The OS error of `CreateIoCompletionPort`, or `InvalidInput` if `concurrency` does not
    /// fit the API's `u32`.
    pub fn new(concurrency: usize) -> io::Result<WindowsPort<T>> {
        let n = u32::try_from(concurrency).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("concurrency={concurrency} must fit in a u32"),
            )
        })?;
        // SAFETY: plain FFI call creating a new port: no file handle (INVALID_HANDLE_VALUE), no
        // existing port (null), key 0; it reads no memory of ours.
        let h = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, n) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        let concurrency = if concurrency == 0 {
            pool_core::__backend::available_parallelism()
        } else {
            concurrency
        };
        Ok(WindowsPort {
            handle: Handle(h),
            concurrency,
            _payload: PhantomData,
        })
    }

    /// Turns a dequeued packet's pointer back into its payload.
    ///
    /// # Safety
    /// `ov` is the `OVERLAPPED` pointer of a packet dequeued from this port (so it came from
    /// `Box::<T>::into_raw` in [`WindowsPort::post`]), and this is the only call for it.
    unsafe fn recover(ov: *mut OVERLAPPED) -> T {
        // SAFETY: the caller guarantees a live `Box<T>` pointer recovered exactly once.
        *unsafe { Box::from_raw(ov.cast::<T>()) }
    }
}

impl<T: Send> CompletionPort<T> for WindowsPort<T> {
    fn post(&self, key: CompletionKey, payload: T) -> Result<(), PostError<T>> {
        let raw = Box::into_raw(Box::new(payload));
        // SAFETY: the handle is a live completion port; the kernel stores `raw` as an opaque
        // word and never dereferences it (no I/O is associated with a posted packet).
        let ok = unsafe { PostQueuedCompletionStatus(self.handle.0, 0, key.0, raw.cast()) };
        if ok == 0 {
            let error = io::Error::last_os_error();
            // SAFETY: the post failed, so the kernel never took `raw`: it is still ours, and this
            // is its only `from_raw`.
            let payload = *unsafe { Box::from_raw(raw) };
            return Err(PostError { error, payload });
        }
        Ok(())
    }

    fn get(&self, timeout: Option<Duration>) -> io::Result<Option<Packet<T>>> {
        let mut bytes = 0u32;
        let mut key = 0usize;
        let mut ov: *mut OVERLAPPED = std::ptr::null_mut();
        // SAFETY: the handle is a live completion port; the three out-pointers point to locals
        // that live across the call.
        let ok = unsafe {
            GetQueuedCompletionStatus(
                self.handle.0,
                &mut bytes,
                &mut key,
                &mut ov,
                millis(timeout),
            )
        };
        if ok == 0 {
            let error = io::Error::last_os_error();
            if ov.is_null() {
                // No packet was dequeued: a timeout is "nothing yet", anything else an error.
                return if error.raw_os_error() == Some(WAIT_TIMEOUT as i32) {
                    Ok(None)
                } else {
                    Err(error)
                };
            }
            // A packet dequeued with a failed I/O status (this port never starts I/O, so this
            // does not happen); recover its payload so it is not leaked, and report the error.
            // SAFETY: `ov` belongs to a packet dequeued from this port by this call.
            drop(unsafe { Self::recover(ov) });
            return Err(error);
        }
        // SAFETY: a packet was dequeued by this call: `ov` came from `post` and is ours alone.
        let payload = unsafe { Self::recover(ov) };
        Ok(Some(Packet {
            key: CompletionKey(key),
            payload,
        }))
    }

    fn get_many(&self, max: usize, timeout: Option<Duration>) -> io::Result<Vec<Packet<T>>> {
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut entries: Vec<OVERLAPPED_ENTRY> = Vec::with_capacity(max as usize);
        let mut removed = 0u32;
        // SAFETY: the handle is a live completion port; `entries` has room for `max` entries,
        // which the kernel writes before reporting how many in `removed`.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(
                self.handle.0,
                entries.as_mut_ptr(),
                max,
                &mut removed,
                millis(timeout),
                0,
            )
        };
        if ok == 0 {
            let error = io::Error::last_os_error();
            return if error.raw_os_error() == Some(WAIT_TIMEOUT as i32) {
                Ok(Vec::new())
            } else {
                Err(error)
            };
        }
        // SAFETY: the kernel initialised the first `removed` (<= `max`) entries.
        unsafe { entries.set_len(removed.min(max) as usize) };
        Ok(entries
            .into_iter()
            .map(|e| Packet {
                key: CompletionKey(e.lpCompletionKey),
                // SAFETY: each entry is a packet this call dequeued, posted by `post`.
                payload: unsafe { Self::recover(e.lpOverlapped) },
            })
            .collect())
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn drain(&self) -> Vec<Packet<T>> {
        let mut out = Vec::new();
        loop {
            match self.get_many(64, Some(Duration::ZERO)) {
                Ok(batch) if !batch.is_empty() => out.extend(batch),
                Ok(_) => return out,
                Err(e) => {
                    tracing::error!(target: "pool", error = %e, "draining a completion port failed");
                    return out;
                }
            }
        }
    }
}

impl<T> Drop for WindowsPort<T> {
    fn drop(&mut self) {
        // Packets still queued own their payloads: dequeue and drop them, then the handle
        // closes. (`drain` is on the `T: Send` impl; this loop is the same with a plain get.)
        loop {
            let mut bytes = 0u32;
            let mut key = 0usize;
            let mut ov: *mut OVERLAPPED = std::ptr::null_mut();
            // SAFETY: as in `get`: a live port and out-pointers to locals.
            let ok = unsafe {
                GetQueuedCompletionStatus(self.handle.0, &mut bytes, &mut key, &mut ov, 0)
            };
            if ov.is_null() {
                if ok != 0 {
                    continue;
                }
                return;
            }
            // SAFETY: `ov` belongs to a packet this call dequeued from the port, posted by `post`.
            drop(unsafe { Box::from_raw(ov.cast::<T>()) });
        }
    }
}

impl<T> std::fmt::Debug for WindowsPort<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsPort")
            .field("handle", &self.handle.0)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}
