//! On-demand runs (`/probe?target=`): their own small concurrency budget, never the scheduled
//! runs' permits; concurrent requests for one target share one run; a run whose every waiting
//! client has gone is cancelled; past the budget the caller answers 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::load::Probe;
use super::Shared;
use crate::finding::Finding;
use crate::metrics::ProbeSnapshot;

/// A run's series and findings; `None` when it was cancelled.
type Outcome = Option<Arc<(ProbeSnapshot, Vec<Finding>)>>;

/// One run in flight and the clients waiting for it.
struct Run {
    result: watch::Receiver<Outcome>,
    cancel: CancellationToken,
    waiters: AtomicUsize,
}

/// A client's interest in a run: when the last one is dropped (every client went away), the run
/// is cancelled.
pub struct Waiter {
    run: Arc<Run>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.run.waiters.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.run.cancel.cancel();
        }
    }
}

impl Waiter {
    /// The run's snapshot; `None` when it was cancelled.
    pub async fn result(self) -> Outcome {
        let mut rx = self.run.result.clone();
        // The interest (`self`) lives until the answer is here, or the future is dropped.
        let out = rx
            .wait_for(|r| r.is_some())
            .await
            .ok()
            .and_then(|r| r.clone());
        out
    }
}

/// The on-demand runs of one agent.
pub struct OnDemand {
    budget: Arc<Semaphore>,
    runs: Mutex<HashMap<String, Arc<Run>>>,
}

/// Every on-demand permit is taken: the caller answers 503 with `Retry-After`.
#[derive(Debug)]
pub struct Busy;

impl OnDemand {
    /// At most `budget` distinct targets run on demand at once.
    pub fn new(budget: usize) -> OnDemand {
        OnDemand {
            budget: Arc::new(Semaphore::new(budget.max(1))),
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// Join the run of `probe` in flight, or start one (tracked, so a drain waits for it) bounded
    /// by `timeout` (a scrape's own timeout, else the probe's).
    pub fn join(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        probe: Arc<Probe>,
        timeout: Option<Duration>,
    ) -> Result<Waiter, Busy> {
        let name = probe.cfg.name.clone();
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(run) = runs.get(&name) {
            if !run.cancel.is_cancelled() {
                run.waiters.fetch_add(1, Ordering::AcqRel);
                return Ok(Waiter { run: run.clone() });
            }
        }
        let permit = self.budget.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (tx, rx) = watch::channel(None);
        let run = Arc::new(Run {
            result: rx,
            cancel: CancellationToken::new(),
            waiters: AtomicUsize::new(1),
        });
        runs.insert(name.clone(), run.clone());
        drop(runs);
        let this = self.clone();
        let runner = shared.clone();
        let cancel = run.cancel.clone();
        let mine = run.clone();
        shared.tracker.spawn(async move {
            let _permit: OwnedSemaphorePermit = permit;
            let snap = tokio::select! {
                _ = cancel.cancelled() => None,
                s = runner.run_on_demand(&probe, timeout) => Some(Arc::new(s)),
            };
            this.finish(&name, &mine);
            let _ = tx.send(snap);
        });
        Ok(Waiter { run })
    }

    /// Forget `run` (unless a newer run of the same target replaced it).
    fn finish(&self, name: &str, run: &Arc<Run>) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.get(name).is_some_and(|r| Arc::ptr_eq(r, run)) {
            runs.remove(name);
        }
    }

    /// Targets running on demand now.
    #[cfg(test)]
    pub fn running(&self) -> usize {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
