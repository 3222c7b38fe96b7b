//! DNS probe: ask each configured resolver, separately and with no cache, for a name's A records,
//! and tell NXDOMAIN, NODATA, SERVFAIL, REFUSED and timeouts apart.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::Resolver;
use tokio::time::Instant;

use crate::facts::{DnsFacts, DnsOutcome};

/// The system's resolvers (`/etc/resolv.conf`), as `ip:port`.
pub fn system_resolvers() -> Result<Vec<SocketAddr>, super::ProbeError> {
    let (cfg, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| super::ProbeError::ResolvConf(e.to_string()))?;
    let v: Vec<SocketAddr> = cfg
        .name_servers()
        .iter()
        .map(|ns| SocketAddr::new(ns.ip, ns.connections.first().map_or(53, |c| c.port)))
        .collect();
    if v.is_empty() {
        return Err(super::ProbeError::NoNameserver);
    }
    Ok(v)
}

/// Look `name` up (A records) at every resolver concurrently; one fact per resolver, in order.
pub async fn lookup_all(name: &str, resolvers: &[SocketAddr], timeout: Duration) -> Vec<DnsFacts> {
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in resolvers.iter().enumerate() {
        let (name, r) = (name.to_string(), *r);
        set.spawn(async move { (i, lookup(&name, r, timeout).await) });
    }
    let mut out: Vec<(usize, DnsFacts)> = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, f)| f).collect()
}

/// Look `name` up at one resolver.
pub async fn lookup(name: &str, resolver: SocketAddr, timeout: Duration) -> DnsFacts {
    let start = Instant::now();
    let (outcome, addrs) = match tokio::time::timeout(timeout, query(name, resolver, timeout)).await
    {
        Ok(r) => r,
        Err(_) => (DnsOutcome::Timeout, Vec::new()),
    };
    DnsFacts {
        name: name.to_string(),
        resolver: resolver.to_string(),
        outcome,
        addrs,
        duration: start.elapsed(),
    }
}

async fn query(
    name: &str,
    resolver: SocketAddr,
    timeout: Duration,
) -> (DnsOutcome, Vec<std::net::IpAddr>) {
    let mut ns = NameServerConfig::udp_and_tcp(resolver.ip());
    for c in &mut ns.connections {
        c.port = resolver.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    opts.timeout = timeout;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    let cfg = ResolverConfig::from_name_servers(vec![ns]);
    let r = match Resolver::builder_with_config(cfg, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
    {
        Ok(r) => r,
        Err(e) => return (DnsOutcome::Error(e.to_string()), Vec::new()),
    };
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match r.lookup(fqdn.as_str(), RecordType::A).await {
        Ok(lookup) => {
            let addrs: Vec<_> = lookup
                .answers()
                .iter()
                .filter_map(|rec| rec.data.ip_addr())
                .collect();
            if addrs.is_empty() {
                (DnsOutcome::NoData, addrs)
            } else {
                (DnsOutcome::Answer, addrs)
            }
        }
        Err(e) => (classify(&e), Vec::new()),
    }
}

/// Map a resolver error to an outcome.
pub fn classify(e: &NetError) -> DnsOutcome {
    match e {
        NetError::Timeout => DnsOutcome::Timeout,
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::NoError => DnsOutcome::NoData,
            other => rcode(other),
        },
        NetError::Dns(DnsError::ResponseCode(c)) => rcode(*c),
        other => {
            let s = other.to_string();
            if s.contains("timed out") {
                DnsOutcome::Timeout
            } else {
                DnsOutcome::Error(s)
            }
        }
    }
}

fn rcode(c: ResponseCode) -> DnsOutcome {
    match c {
        ResponseCode::NXDomain => DnsOutcome::NxDomain,
        ResponseCode::ServFail => DnsOutcome::ServFail,
        ResponseCode::Refused => DnsOutcome::Refused,
        other => DnsOutcome::Rcode(other.to_string()),
    }
}
