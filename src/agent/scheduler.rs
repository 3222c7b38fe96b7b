//! Scheduler: runs each probe on its own interval, at a fixed point of it that spreads the probes
//! over the interval. At most one run per probe is in flight; a tick that would overlap is
//! skipped and counted. Runs are tracked so a drain can wait for them.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{Metrics, RunResult};

/// Something run on a schedule.
pub trait Schedule: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn interval(&self) -> Duration;
}

/// Starts one run of a probe; the future ends when the run does.
pub type RunFn<P> = Arc<dyn Fn(Arc<P>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct Loop<P> {
    probe: Arc<P>,
    cancel: CancellationToken,
    in_flight: Arc<AtomicBool>,
}

/// The per-probe loops.
pub struct Scheduler<P: Schedule> {
    run: RunFn<P>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    stop: CancellationToken,
    loops: BTreeMap<String, Loop<P>>,
}

impl<P: Schedule> Scheduler<P> {
    /// Runs are spawned on `tracker`.
    pub fn new(run: RunFn<P>, metrics: Arc<Metrics>, tracker: TaskTracker) -> Self {
        Scheduler {
            run,
            metrics,
            tracker,
            stop: CancellationToken::new(),
            loops: BTreeMap::new(),
        }
    }

    /// Make the loops match `probes`: a probe that is the same instance as before keeps its
    /// loop (and rhythm); others get a new loop. A replaced probe's in-flight run still blocks
    /// overlap of the new one.
    pub fn apply(&mut self, probes: impl IntoIterator<Item = Arc<P>>) {
        let mut next = BTreeMap::new();
        for p in probes {
            let name = p.name().to_string();
            let kept = match self.loops.remove(&name) {
                Some(l) if Arc::ptr_eq(&l.probe, &p) => l,
                old => {
                    let in_flight = match old {
                        Some(l) => {
                            l.cancel.cancel();
                            l.in_flight
                        }
                        None => Arc::new(AtomicBool::new(false)),
                    };
                    self.start(p, in_flight)
                }
            };
            next.insert(name, kept);
        }
        for (_, l) in std::mem::take(&mut self.loops) {
            l.cancel.cancel();
        }
        self.loops = next;
    }

    fn start(&self, probe: Arc<P>, in_flight: Arc<AtomicBool>) -> Loop<P> {
        let cancel = self.stop.child_token();
        let l = Loop {
            probe: probe.clone(),
            cancel: cancel.clone(),
            in_flight: in_flight.clone(),
        };
        tokio::spawn(probe_loop(
            probe,
            self.run.clone(),
            self.metrics.clone(),
            self.tracker.clone(),
            cancel,
            in_flight,
        ));
        l
    }

    /// Stop scheduling and wait for every in-flight run.
    pub async fn drain(&mut self) {
        self.stop.cancel();
        self.loops.clear();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Stop scheduling and wait for the in-flight runs until `deadline`; returns the probes whose
    /// runs were still going then (the caller cuts them by exiting).
    pub async fn drain_until(&mut self, deadline: Instant) -> Vec<String> {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_ok()
        {
            self.loops.clear();
            return Vec::new();
        }
        let cut = self
            .loops
            .iter()
            .filter(|(_, l)| l.in_flight.load(Ordering::Acquire))
            .map(|(name, _)| name.clone())
            .collect();
        self.loops.clear();
        cut
    }
}

/// Clears the in-flight flag when the run ends, even by panic.
struct InFlight(Arc<AtomicBool>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Where in each interval a probe's runs start: a point spread uniformly over the interval by
/// the probe's name, as Prometheus spreads its scrapes. A thousand probes on one interval never
/// come due together (each would hold its run's state while it waits for a permit). The same
/// name on the same interval always gets the same point.
pub fn phase(name: &str, interval: Duration) -> Duration {
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(name);
    // The hash's top 53 bits, exact in an f64: a fraction in [0, 1), never the whole interval.
    interval.mul_f64((h >> 11) as f64 / (1u64 << 53) as f64)
}

async fn probe_loop<P: Schedule>(
    probe: Arc<P>,
    run: RunFn<P>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    in_flight: Arc<AtomicBool>,
) {
    let interval = probe.interval().max(Duration::from_millis(1));
    let mut next = Instant::now() + phase(probe.name(), interval);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = sleep_until(next) => {}
        }
        next += interval;
        // Fell a whole slot behind (the process was stopped): the missed slots are not made up
        // (no burst), and the probe keeps its point in the interval.
        let now = Instant::now();
        if now > next {
            let missed = (now - next).as_nanos() / interval.as_nanos() + 1;
            next += Duration::from_nanos((missed * interval.as_nanos()) as u64);
        }
        if in_flight.swap(true, Ordering::AcqRel) {
            metrics.count_run(probe.name(), RunResult::Skipped);
            tracing::debug!(
                probe = probe.name(),
                "previous run still in flight: skipped"
            );
            continue;
        }
        let guard = InFlight(in_flight.clone());
        let fut = run(probe.clone());
        tracker.spawn(async move {
            let _guard = guard;
            fut.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    struct Fake {
        name: String,
        interval: Duration,
    }

    fn fake(name: &str, secs: u64) -> Arc<Fake> {
        Arc::new(Fake {
            name: name.to_string(),
            interval: Duration::from_secs(secs),
        })
    }

    impl Schedule for Fake {
        fn name(&self) -> &str {
            &self.name
        }
        fn interval(&self) -> Duration {
            self.interval
        }
    }

    fn counting_runner(started: Arc<AtomicUsize>, takes: Duration) -> RunFn<Fake> {
        Arc::new(move |_p| {
            let started = started.clone();
            Box::pin(async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(takes).await;
            })
        })
    }

    fn runs(m: &Metrics, probe: &str, r: RunResult) -> u64 {
        m.run_count(probe, r)
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_run_is_skipped_and_counted() {
        let metrics = Arc::new(Metrics::new());
        let started = Arc::new(AtomicUsize::new(0));
        // Every run takes 25s; the interval is 10s.
        let run = counting_runner(started.clone(), Duration::from_secs(25));
        let mut s = Scheduler::new(run, metrics.clone(), TaskTracker::new());
        s.apply([fake("slow", 10)]);
        // Slots at p, p+10, p+20: the first runs until p+25, the next two overlap.
        let p = phase("slow", Duration::from_secs(10));
        tokio::time::sleep(p + Duration::from_secs(29)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(runs(&metrics, "slow", RunResult::Skipped), 2);
        // The slot at p+30 finds the first run done and starts again.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
        s.drain().await;
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_in_flight_runs_and_stops_scheduling() {
        let metrics = Arc::new(Metrics::new());
        let started = Arc::new(AtomicUsize::new(0));
        let run = counting_runner(started.clone(), Duration::from_secs(5));
        let tracker = TaskTracker::new();
        let mut s = Scheduler::new(run, metrics, tracker.clone());
        s.apply([fake("p", 10)]);
        tokio::time::sleep(phase("p", Duration::from_secs(10)) + Duration::from_secs(2)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert!(!tracker.is_empty());
        s.drain().await;
        assert!(tracker.is_empty());
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn same_instance_keeps_its_loop_and_removed_probe_stops() {
        let metrics = Arc::new(Metrics::new());
        let started = Arc::new(AtomicUsize::new(0));
        let run = counting_runner(started.clone(), Duration::from_millis(1));
        let mut s = Scheduler::new(run, metrics, TaskTracker::new());
        let p = fake("p", 10);
        s.apply([p.clone()]);
        // Runs at its point in the interval and 10 s later.
        tokio::time::sleep(phase("p", p.interval) + Duration::from_secs(15)).await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
        s.apply([p.clone()]);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(started.load(Ordering::SeqCst), 3);
        s.apply(Vec::<Arc<Fake>>::new());
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(started.load(Ordering::SeqCst), 3);
        s.drain().await;
    }

    #[tokio::test(start_paused = true)]
    async fn probes_on_one_interval_are_spread_over_it() {
        let metrics = Arc::new(Metrics::new());
        let starts = Arc::new(Mutex::new(Vec::new()));
        let at = starts.clone();
        let run: RunFn<Fake> = Arc::new(move |_p| {
            at.lock().unwrap().push(Instant::now());
            Box::pin(async {})
        });
        let mut s = Scheduler::new(run, metrics, TaskTracker::new());
        let t0 = Instant::now();
        s.apply((0..1000).map(|i| fake(&format!("p{i}"), 10)));
        tokio::time::sleep(Duration::from_millis(9_999)).await;
        // One run each in the first interval, about a hundred in each of its ten seconds (the
        // names' hashes place them; all in the first second would be a burst).
        let starts = starts.lock().unwrap().clone();
        assert_eq!(starts.len(), 1000);
        let mut per_second = [0; 10];
        for t in starts {
            per_second[(t - t0).as_secs() as usize] += 1;
        }
        assert!(
            per_second.iter().all(|n| (50..=150).contains(n)),
            "{per_second:?}"
        );
        s.drain().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_process_makes_up_no_slots_and_keeps_its_point() {
        let metrics = Arc::new(Metrics::new());
        let started = Arc::new(AtomicUsize::new(0));
        let run = counting_runner(started.clone(), Duration::from_millis(1));
        let mut s = Scheduler::new(run, metrics, TaskTracker::new());
        s.apply([fake("p", 10)]);
        let p = phase("p", Duration::from_secs(10));
        tokio::time::sleep(p + Duration::from_secs(1)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        // Stopped for 35 s: the slots at p+10, p+20 and p+30 come due at once, and run once.
        tokio::time::advance(Duration::from_secs(35)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
        // The next run is at p+40, its point in the interval, not 10 s after the late one.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(started.load(Ordering::SeqCst), 3);
        s.drain().await;
    }
}
