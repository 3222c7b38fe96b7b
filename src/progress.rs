//! Progress of a run while it waits: how many lookups, connects, handshakes, requests and AWS
//! reads are still pending. The doctor shows it as one line on a terminal's stderr when a run
//! takes longer than a second (a blackholed layer waits for its timeout); nothing else reads it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What is pending, per stage of a run.
#[derive(Debug, Default)]
pub struct Progress {
    pending: [AtomicUsize; 6],
}

/// A stage of a run, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Dns,
    Tcp,
    Tls,
    Http,
    Aws,
    /// The execution logs of failed requests, being delivered.
    Logs,
}

const STAGES: [(Stage, &str); 6] = [
    (Stage::Dns, "DNS"),
    (Stage::Tcp, "TCP"),
    (Stage::Tls, "TLS"),
    (Stage::Http, "HTTP"),
    (Stage::Aws, "AWS reads"),
    (Stage::Logs, "execution logs"),
];

/// One pending operation; done when dropped.
pub struct Pending<'a>(&'a AtomicUsize);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Progress {
    /// One more operation of `stage` pending until the guard is dropped.
    pub fn enter(&self, stage: Stage) -> Pending<'_> {
        let c = &self.pending[stage as usize];
        c.fetch_add(1, Ordering::AcqRel);
        Pending(c)
    }

    /// `waiting: DNS 1, TCP 2 · 4.1 s left`, or `None` when nothing is pending.
    pub fn line(&self, left: Duration) -> Option<String> {
        let parts: Vec<String> = STAGES
            .iter()
            .filter_map(|(s, name)| {
                let n = self.pending[*s as usize].load(Ordering::Acquire);
                (n > 0).then(|| format!("{name} {n}"))
            })
            .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "waiting: {} · {:.1} s left",
                parts.join(", "),
                left.as_secs_f64()
            )
        })
    }
}

/// [`Progress::enter`] on an optional progress.
pub fn enter(p: &Option<std::sync::Arc<Progress>>, stage: Stage) -> Option<Pending<'_>> {
    p.as_ref().map(|p| p.enter(stage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_what_is_pending() {
        let p = Progress::default();
        assert_eq!(p.line(Duration::from_secs(3)), None);
        let a = p.enter(Stage::Tcp);
        let b = p.enter(Stage::Tcp);
        let c = p.enter(Stage::Dns);
        assert_eq!(
            p.line(Duration::from_millis(4100)).unwrap(),
            "waiting: DNS 1, TCP 2 · 4.1 s left"
        );
        drop((a, c));
        assert_eq!(
            p.line(Duration::from_secs(1)).unwrap(),
            "waiting: TCP 1 · 1.0 s left"
        );
        drop(b);
        assert_eq!(p.line(Duration::from_secs(1)), None);
    }
}
