//! [`Shared`]: a value used from async code behind a mutex (the one place that moves blocking
//! storage work to the blocking pool), and [`Internal`], the logged storage failure it returns.
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::StoreError;

/// A storage failure, already logged where it happened (answered 500 `internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("internal storage error")]
pub struct Internal;

/// A value used from async code behind a mutex: the one place that moves blocking storage
/// work to the blocking pool.
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T: Send + 'static> Shared<T> {
    pub fn new(value: T) -> Self {
        Shared(Arc::new(Mutex::new(value)))
    }

    /// Lock on the current thread (startup configuration only).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // A panic while holding the lock would poison it; the connection itself stays
        // consistent (an unfinished transaction rolls back on drop), so keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the blocking pool; a storage error or a failed task is logged under `op`.
    pub async fn run<R, F>(&self, op: &'static str, f: F) -> Result<R, Internal>
    where
        R: Send + 'static,
        F: FnOnce(&mut T) -> Result<R, StoreError> + Send + 'static,
    {
        let shared = self.clone();
        let joined = tokio::task::spawn_blocking(move || f(&mut shared.lock())).await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(op, error = %e, "storage error");
                Err(Internal)
            }
            Err(e) => {
                tracing::error!(op, error = %e, "storage task failed");
                Err(Internal)
            }
        }
    }
}
