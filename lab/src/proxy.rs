//! Layer-4 hops: the VPC-link NLBs, the PrivateLink endpoint ENIs and the provider NLB,
//! each a TCP proxy that connects to a target (round robin) before relaying. A refused
//! or failed target connection resets the client (RST), like an NLB with a dead target;
//! a hanging one keeps the client waiting.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpStream;

use crate::runtime::{FaultCell, Tasks};
use crate::slot::Slot;
use crate::TargetsFault;

/// How long a proxy keeps trying a silent target before giving up (and resetting).
const TARGET_CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// A TCP proxy in front of `targets`.
pub(crate) struct Proxy {
    name: &'static str,
    targets: Vec<SocketAddr>,
    /// A VPC-link NLB: its faults, and the stale targets used instead while `targets =
    /// "ip_drift"` is on.
    drifted: Option<(FaultCell, Vec<SocketAddr>)>,
    next: AtomicUsize,
}

impl Proxy {
    pub(crate) fn new(name: &'static str, targets: Vec<SocketAddr>) -> Arc<Proxy> {
        Arc::new(Proxy {
            name,
            targets,
            drifted: None,
            next: AtomicUsize::new(0),
        })
    }

    /// A proxy whose targets are `drifted` while the faults say `targets = "ip_drift"`.
    pub(crate) fn with_drift(
        name: &'static str,
        targets: Vec<SocketAddr>,
        faults: FaultCell,
        drifted: Vec<SocketAddr>,
    ) -> Arc<Proxy> {
        Arc::new(Proxy {
            name,
            targets,
            drifted: Some((faults, drifted)),
            next: AtomicUsize::new(0),
        })
    }

    fn current_targets(&self) -> &[SocketAddr] {
        match &self.drifted {
            Some((faults, drifted)) if faults.get().targets == TargetsFault::IpDrift => drifted,
            _ => &self.targets,
        }
    }

    /// Proxies every connection accepted on `slot` until the lab stops.
    pub(crate) fn serve(self: &Arc<Self>, slot: Arc<Slot>, tasks: &Tasks) {
        let (proxy, inner) = (self.clone(), tasks.clone());
        tasks.spawn(async move {
            slot.run(|client, _| {
                let proxy = proxy.clone();
                inner.spawn(async move { proxy.relay(client).await });
            })
            .await
        });
    }

    async fn relay(&self, mut client: TcpStream) {
        // `integration_scheme_mismatch`: the listener is TLS; what is not a handshake gets an alert.
        if let Some((faults, _)) = &self.drifted {
            if faults.get().integration_scheme_mismatch && !starts_tls(&client).await {
                use tokio::io::AsyncWriteExt;
                // A fatal unexpected_message alert, then the connection closes.
                let _ = client
                    .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a])
                    .await;
                let _ = client.shutdown().await;
                return;
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let targets = self.current_targets();
        let Some(&target) = targets.get(i % targets.len().max(1)) else {
            return reset(client);
        };
        let mut upstream = match tokio::time::timeout(
            TARGET_CONNECT_LIMIT,
            TcpStream::connect(target),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(proxy = self.name, %target, error = %e, "target connect failed");
                return reset(client);
            }
            Err(_) => return reset(client),
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(proxy = self.name, %target, error = %e, "relay broken");
            reset(client);
        }
    }
}

/// Whether the client's first byte is a TLS handshake record (0x16), within two seconds.
async fn starts_tls(client: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), client.peek(&mut first)).await,
        Ok(Ok(1))
    ) && first[0] == 0x16
}

/// Drops `stream` with SO_LINGER 0, which sends a RST instead of a FIN.
pub(crate) fn reset(stream: TcpStream) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}
