//! End-to-end tests of a running lab over real loopback sockets: DNS over UDP and TCP,
//! TLS + HTTP/1.1 through the front door to both backends, every API Gateway error
//! shape, and SYN drops that time out instead of being refused.

mod client;
mod control;
mod dns;
mod gateway;
mod scenarios;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use pgw_lab::*;

use client::*;
use dns::{a_records, ask_udp};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

pub(crate) fn scenario() -> Scenario {
    Scenario {
        name: "test".into(),
        description: "test".into(),
        topology: Topology::default(),
        faults: Faults::default(),
        control_plane: ControlPlaneSpec::default(),
        doctor: DoctorSpec::default(),
        expect: Expect {
            verdict: "healthy".into(),
            exit_code: 0,
            first_finding: None,
            confidence: None,
            findings: None,
            not_checked: Vec::new(),
            evidence: Vec::new(),
            recent_failures: Vec::new(),
        },
    }
}

pub(crate) const API_HOST: &str = "3eqr0osoc3.execute-api.us-east-1.amazonaws.com";
pub(crate) const VPCE_HOST: &str =
    "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com";

/// The scenario runner starts labs inside spawned tasks of a multi-thread runtime.
#[test]
fn lab_and_its_futures_are_send() {
    fn check<T: Send + Sync>(_: &T) {}
    fn check_future<F: std::future::Future + Send>(_: &F) {}
    let s = scenario();
    check_future(&Lab::start(&s));
    check(&s);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(&s)).unwrap();
    check(&lab);
    check_future(&lab.shutdown());
}
