//! Runtime plumbing shared by every simulated component: the live fault set and the
//! supervision of spawned tasks (all stopped together when the lab shuts down).

use std::future::Future;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Faults;

/// The faults in force; components read a snapshot per connection, request or query.
#[derive(Clone, Default)]
pub(crate) struct FaultCell(Arc<RwLock<Faults>>);

impl FaultCell {
    pub(crate) fn new(faults: Faults) -> FaultCell {
        FaultCell(Arc::new(RwLock::new(faults)))
    }
    pub(crate) fn get(&self) -> Faults {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(crate) fn set(&self, faults: Faults) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }
}

/// Spawns tasks that end when the lab is cancelled.
#[derive(Clone, Default)]
pub(crate) struct Tasks {
    tracker: TaskTracker,
    token: CancellationToken,
}

impl Tasks {
    /// Spawns `fut` on the current runtime; it is dropped when the lab stops.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = fut => {}
            }
        });
    }

    /// Cancels every task.
    pub(crate) fn cancel(&self) {
        self.token.cancel();
        self.tracker.close();
    }

    /// Cancels every task and waits (bounded) until they are gone.
    pub(crate) async fn stop(&self) {
        self.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.tracker.wait()).await;
    }
}
