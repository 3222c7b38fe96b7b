//! The execute-api front ends as TLS listeners: the interface endpoint's ENIs and the
//! public front end. Each connection gets the certificate the `tls` fault selects at
//! accept time, then HTTP/1.1 requests go to the gateway pipeline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::gateway::{Door, Gateway};
use crate::pki::Pki;
use crate::runtime::{FaultCell, Tasks};
use crate::slot::Slot;

/// Everything a front-end connection needs.
#[derive(Clone)]
pub(crate) struct FrontDoor {
    pub(crate) door: Door,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) pki: Arc<Pki>,
    pub(crate) faults: FaultCell,
}

impl FrontDoor {
    /// Serves TLS + HTTP/1.1 on `slot` until the lab stops.
    pub(crate) fn serve(&self, slot: Arc<Slot>, tasks: &Tasks) {
        let (this, inner) = (self.clone(), tasks.clone());
        tasks.spawn(async move {
            slot.run(|stream, peer| {
                let this = this.clone();
                inner.spawn(async move { this.connection(stream, peer).await });
            })
            .await
        });
    }

    async fn connection(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let faults = self.faults.get();
        let config = self
            .pki
            .server_config(faults.tls, faults.custom_domain.certificate());
        let acceptor = TlsAcceptor::from(config);
        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
        let (door, gateway) = (self.door, self.gateway.clone());
        let sni: Option<String> = tls.get_ref().1.server_name().map(str::to_string);
        crate::httpd::serve(tls, move |req| {
            let (gateway, sni) = (gateway.clone(), sni.clone());
            async move { gateway.handle(door, peer, sni.as_deref(), req).await }
        })
        .await;
    }
}
