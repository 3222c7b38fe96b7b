//! Bench targets: an HTTPS server (TLS 1.2/1.3, the lab's certificate for `*.execute-api.<region>`
//! from a fresh CA written to a PEM file) answering every request `200 {}`, and a UDP DNS server
//! answering every A query with the given addresses. One process, so its CPU is never counted
//! against the prober under test.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pgw_lab::{DomainCertificate, Pki, TlsFault};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio_rustls::TlsAcceptor;

/// `pgw-bench serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// HTTPS listen address (repeatable).
    #[arg(long, required = true)]
    pub https: Vec<SocketAddr>,
    /// A DNS (UDP) server: `LISTEN=IP[,IP...]` answers every A query with those addresses
    /// (repeatable).
    #[arg(long, value_parser = parse_dns)]
    pub dns: Vec<(SocketAddr, Vec<Ipv4Addr>)>,
    /// Where to write the CA certificate (PEM).
    #[arg(long)]
    pub ca_out: PathBuf,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}

fn parse_dns(s: &str) -> Result<(SocketAddr, Vec<Ipv4Addr>), String> {
    let (listen, ips) = s.split_once('=').ok_or("expected LISTEN=IP[,IP...]")?;
    let listen = listen.parse().map_err(|e| format!("{listen}: {e}"))?;
    let ips = ips
        .split(',')
        .map(|ip| ip.parse().map_err(|e| format!("{ip}: {e}")))
        .collect::<Result<_, String>>()?;
    Ok((listen, ips))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // The lab's certificates: a fresh CA and its `*.execute-api.<region>` server certificate.
    let pki = Pki::generate(&args.region, &pgw_lab::Topology::default().domain_name)?;
    std::fs::write(&args.ca_out, &pki.ca_pem)
        .with_context(|| format!("{}", args.ca_out.display()))?;
    let acceptor = TlsAcceptor::from(pki.server_config(TlsFault::Ok, DomainCertificate::Served));
    for addr in &args.https {
        // A deep accept queue: the load driver opens tens of thousands of connections a second.
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(*addr).with_context(|| format!("bind {addr}"))?;
        let listener = socket.listen(65_535)?;
        tokio::spawn(https_loop(listener, acceptor.clone()));
    }
    for (addr, answer) in args.dns {
        let sock = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("bind {addr}"))?;
        tokio::spawn(dns_loop(sock, answer));
    }
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn https_loop(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = service_fn(|_req| async {
                Ok::<_, Infallible>(
                    http::Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(b"{}")))
                        .expect("static response"),
                )
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

async fn dns_loop(sock: UdpSocket, answer: Vec<Ipv4Addr>) {
    let mut buf = vec![0u8; 1500];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = dns_reply(&buf[..n], &answer) {
            let _ = sock.send_to(&reply, peer).await;
        }
    }
}

fn dns_reply(wire: &[u8], answer: &[Ipv4Addr]) -> Option<Vec<u8>> {
    let query = Message::from_vec(wire).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    let Some(q) = query.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp.to_vec().ok();
    };
    resp.add_query(q.clone());
    if q.query_type() == RecordType::A {
        for ip in answer {
            resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(*ip))));
        }
    }
    resp.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_answers_every_a_query_with_the_given_addresses() {
        use hickory_proto::op::Query;
        use hickory_proto::rr::Name;
        let mut q = Message::query();
        q.metadata.id = 7;
        q.add_query(Query::query(
            Name::from_ascii("abcdefghij.execute-api.us-east-1.amazonaws.com.").unwrap(),
            RecordType::A,
        ));
        let ips = [
            Ipv4Addr::new(127, 201, 0, 10),
            Ipv4Addr::new(127, 201, 0, 11),
        ];
        let r = Message::from_vec(&dns_reply(&q.to_vec().unwrap(), &ips).unwrap()).unwrap();
        assert_eq!(r.metadata.id, 7);
        let got: Vec<_> = r.answers.iter().map(|a| a.data.clone()).collect();
        assert_eq!(got, vec![RData::A(A(ips[0])), RData::A(A(ips[1]))]);
    }

    #[test]
    fn dns_flag_parses_listen_and_answers() {
        let (l, ips) = parse_dns("127.201.0.10:5353=127.201.0.10,127.201.0.11").unwrap();
        assert_eq!(l, "127.201.0.10:5353".parse().unwrap());
        assert_eq!(ips.len(), 2);
        assert!(parse_dns("127.201.0.10:5353").is_err());
    }
}
