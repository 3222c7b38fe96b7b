//! The VPC resolver as the consumer sees it: a real DNS server (UDP and TCP on one
//! address) answering the execute-api private DNS names, the endpoint's regional and
//! zonal names, the `{api}-{vpce}` alias and a chained NLB name, with the `dns` and
//! `alias_associated` faults applied.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::runtime::{FaultCell, Tasks};
use crate::{DnsFault, Faults, Topology};

/// TTL of every answer (and the negative-caching TTL of the SOA records).
const TTL: u32 = 60;

/// The names the resolver knows, with their addresses.
pub(crate) struct Zones {
    api_id: String,
    /// `execute-api.<region>.amazonaws.com`: the endpoint's private hosted zone.
    api_zone: String,
    /// `execute-api.<region>.vpce.amazonaws.com`: endpoint-specific public names.
    vpce_zone: String,
    /// `elb.<region>.amazonaws.com`: load balancer names.
    elb_zone: String,
    /// The private custom domain name: its own private hosted zone, whose record points at the
    /// endpoint (an alias of its regional name).
    domain_zone: String,
    alias: String,
    vpce_regional: String,
    zonal: Vec<(String, Ipv4Addr)>,
    chain_nlb: String,
    enis: Vec<Ipv4Addr>,
    public_front_end: Ipv4Addr,
}

/// What the resolver does with one question.
#[derive(Debug, PartialEq)]
enum Outcome {
    Addrs(Vec<Ipv4Addr>),
    NxDomain,
    Rcode(ResponseCode),
    Silent,
}

impl Zones {
    /// `enis` are (AZ, address) in topology order.
    pub(crate) fn new(
        topo: &Topology,
        enis: &[(String, Ipv4Addr)],
        public_front_end: Ipv4Addr,
    ) -> Zones {
        let lc = |s: String| s.to_ascii_lowercase();
        Zones {
            api_id: topo.api_id.clone(),
            api_zone: lc(format!("execute-api.{}.amazonaws.com", topo.region)),
            vpce_zone: lc(format!("execute-api.{}.vpce.amazonaws.com", topo.region)),
            elb_zone: lc(format!("elb.{}.amazonaws.com", topo.region)),
            domain_zone: lc(topo.domain_name.clone()),
            alias: lc(topo.alias_host()),
            vpce_regional: lc(topo.vpce_regional_dns()),
            zonal: enis
                .iter()
                .map(|(az, ip)| (lc(topo.vpce_zonal_dns(az)), *ip))
                .collect(),
            chain_nlb: lc(topo.chain_nlb_dns()),
            enis: enis.iter().map(|(_, ip)| *ip).collect(),
            public_front_end,
        }
    }

    /// The zone `qname` falls in, and the outcome; `None` = not ours (REFUSED).
    fn lookup<'a>(&'a self, qname: &str, faults: &Faults) -> Option<(&'a str, Outcome)> {
        if qname == self.domain_zone {
            let outcome = match faults.custom_domain {
                crate::CustomDomainFault::DnsMissing => Outcome::NxDomain,
                crate::CustomDomainFault::DnsElsewhere => {
                    Outcome::Addrs(vec![self.public_front_end])
                }
                _ => Outcome::Addrs(self.enis.clone()),
            };
            return Some((&self.domain_zone, outcome));
        }
        let zone = [
            &self.api_zone,
            &self.vpce_zone,
            &self.elb_zone,
            &self.domain_zone,
        ]
        .into_iter()
        .find(|z| qname == z.as_str() || qname.ends_with(&format!(".{z}")))?;
        let label = qname.strip_suffix(zone.as_str()).unwrap_or("");
        let label = label.strip_suffix('.').unwrap_or(label);
        let outcome = if zone == &self.api_zone {
            if qname == self.alias {
                if faults.alias_associated {
                    Outcome::Addrs(self.enis.clone())
                } else {
                    Outcome::NxDomain
                }
            } else if label.is_empty() || label == self.api_id || looks_like_api_id(label) {
                // The private hosted zone: apex and `*.execute-api…` (one label).
                self.private_dns(faults.effective_dns())
            } else {
                Outcome::NxDomain
            }
        } else if qname == self.vpce_regional || qname == self.chain_nlb {
            Outcome::Addrs(self.enis.clone())
        } else if let Some((_, ip)) = self.zonal.iter().find(|(n, _)| n == qname) {
            Outcome::Addrs(vec![*ip])
        } else {
            Outcome::NxDomain
        };
        Some((zone, outcome))
    }

    fn private_dns(&self, fault: DnsFault) -> Outcome {
        match fault {
            DnsFault::Ok => Outcome::Addrs(self.enis.clone()),
            DnsFault::Public => Outcome::Addrs(vec![self.public_front_end]),
            DnsFault::Nxdomain => Outcome::NxDomain,
            DnsFault::Servfail => Outcome::Rcode(ResponseCode::ServFail),
            DnsFault::Refused => Outcome::Rcode(ResponseCode::Refused),
            DnsFault::Timeout => Outcome::Silent,
        }
    }

    /// The wire response to a wire query; `None` = stay silent.
    pub(crate) fn respond(&self, wire: &[u8], faults: &Faults) -> Option<Vec<u8>> {
        let query = match Message::from_vec(wire) {
            Ok(q) => q,
            Err(_) if wire.len() >= 2 => {
                let id = u16::from_be_bytes([wire[0], wire[1]]);
                let msg = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
                return msg.to_vec().ok();
            }
            Err(_) => return None,
        };
        if query.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
        resp.metadata.recursion_desired = query.metadata.recursion_desired;
        resp.metadata.recursion_available = true;
        if query.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            resp.edns = Some(edns);
        }
        if query.metadata.op_code != OpCode::Query {
            resp.metadata.response_code = ResponseCode::NotImp;
            return resp.to_vec().ok();
        }
        let [q] = query.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return resp.to_vec().ok();
        };
        resp.add_query(q.clone());
        let qname = q.name().to_ascii().to_ascii_lowercase();
        let qname = qname.trim_end_matches('.');
        let Some((zone, outcome)) = self.lookup(qname, faults) else {
            resp.metadata.response_code = ResponseCode::Refused;
            return resp.to_vec().ok();
        };
        match outcome {
            Outcome::Silent => return None,
            Outcome::Rcode(code) => resp.metadata.response_code = code,
            Outcome::NxDomain => {
                resp.metadata.authoritative = true;
                resp.metadata.response_code = ResponseCode::NXDomain;
                resp.add_authority(soa(zone)?);
            }
            Outcome::Addrs(ips) => {
                resp.metadata.authoritative = true;
                if matches!(q.query_type(), RecordType::A | RecordType::ANY) {
                    for ip in ips {
                        resp.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip))));
                    }
                } else {
                    // NODATA: the name exists, but has no record of this type.
                    resp.add_authority(soa(zone)?);
                }
            }
        }
        resp.to_vec().ok()
    }
}

/// An API id is 10 lowercase alphanumerics.
fn looks_like_api_id(label: &str) -> bool {
    label.len() == 10
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn soa(zone: &str) -> Option<Record> {
    let name = Name::from_ascii(format!("{zone}.")).ok()?;
    let rdata = SOA::new(
        Name::from_ascii("ns-1536.awsdns-00.co.uk.").ok()?,
        Name::from_ascii("awsdns-hostmaster.amazon.com.").ok()?,
        1,
        7200,
        900,
        1_209_600,
        TTL,
    );
    Some(Record::from_rdata(name, TTL, RData::SOA(rdata)))
}

/// Serves `zones` on `udp` and `tcp` (bound to the same address) until the lab stops.
pub(crate) fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    zones: Arc<Zones>,
    faults: FaultCell,
    tasks: &Tasks,
) {
    let (z, f) = (zones.clone(), faults.clone());
    tasks.spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(resp) = z.respond(&buf[..n], &f.get()) {
                let _ = udp.send_to(&resp, peer).await;
            }
        }
    });
    let inner = tasks.clone();
    tasks.spawn(async move {
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (z, f) = (zones.clone(), faults.clone());
            inner.spawn(serve_tcp(stream, z, f));
        }
    });
}

/// DNS over TCP: 2-byte length prefix, several queries per connection.
async fn serve_tcp(mut stream: TcpStream, zones: Arc<Zones>, faults: FaultCell) {
    let idle = Duration::from_secs(30);
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(idle, stream.read_u16()).await else {
            return;
        };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        if let Some(resp) = zones.respond(&buf, &faults.get()) {
            let Ok(len) = u16::try_from(resp.len()) else {
                return;
            };
            let mut out = len.to_be_bytes().to_vec();
            out.extend_from_slice(&resp);
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

/// Binds UDP and TCP on the same `ip:port` (port 0 = pick one free for both).
pub(crate) fn bind(ip: Ipv4Addr) -> std::io::Result<(UdpSocket, TcpListener, SocketAddr)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind((ip, 0))?;
        let addr = udp.local_addr()?;
        match crate::slot::bind_listener(addr) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                return Ok((UdpSocket::from_std(udp)?, tcp, addr));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn zones() -> Zones {
        let topo = Topology::default();
        let enis = vec![
            ("us-east-1a".to_string(), Ipv4Addr::new(127, 9, 9, 11)),
            ("us-east-1b".to_string(), Ipv4Addr::new(127, 9, 9, 12)),
        ];
        Zones::new(&topo, &enis, Ipv4Addr::new(127, 9, 9, 200))
    }

    fn ask(z: &Zones, name: &str, rtype: RecordType, faults: &Faults) -> Option<Message> {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        q.metadata.recursion_desired = true;
        let wire = z.respond(&q.to_vec().unwrap(), faults)?;
        Some(Message::from_vec(&wire).unwrap())
    }

    fn addrs(m: &Message) -> Vec<String> {
        m.answers.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn answers_follow_the_name_and_faults() {
        let z = zones();
        let ok = Faults::default();
        let api = "3eqr0osoc3.execute-api.us-east-1.amazonaws.com.";
        let m = ask(&z, api, RecordType::A, &ok).unwrap();
        assert_eq!(addrs(&m), ["127.9.9.11", "127.9.9.12"]);
        assert!(m.metadata.authoritative && m.metadata.recursion_available);
        let zonal =
            "vpce-0a1b2c3d4e5f60001-4kq2x7ab-us-east-1b.execute-api.us-east-1.vpce.amazonaws.com.";
        assert_eq!(
            addrs(&ask(&z, zonal, RecordType::A, &ok).unwrap()),
            ["127.9.9.12"]
        );
        let m = ask(&z, api, RecordType::AAAA, &ok).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty() && m.authorities.len() == 1);
        let m = ask(
            &z,
            "nope.execute-api.us-east-1.vpce.amazonaws.com.",
            RecordType::A,
            &ok,
        )
        .unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        let m = ask(&z, "example.com.", RecordType::A, &ok).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);

        let public = Faults {
            dns: DnsFault::Public,
            ..Faults::default()
        };
        assert_eq!(
            addrs(&ask(&z, api, RecordType::A, &public).unwrap()),
            ["127.9.9.200"]
        );
        let silent = Faults {
            dns: DnsFault::Timeout,
            ..Faults::default()
        };
        assert!(ask(&z, api, RecordType::A, &silent).is_none());
        let alias = "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com.";
        assert_eq!(
            addrs(&ask(&z, alias, RecordType::A, &silent).unwrap()).len(),
            2
        );
        let unassoc = Faults {
            alias_associated: false,
            ..Faults::default()
        };
        let m = ask(&z, alias, RecordType::A, &unassoc).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }
}
