//! One running lab: reserves an address block, starts every hop of the topology on
//! loopback (resolver, endpoint ENIs, public front end, NLBs, PrivateLink, backends),
//! applies faults at runtime, and tells pgw-doctor how to reach it.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::addr::{host, Block};
use crate::backend::{self, Flavor};
use crate::control::{self, Addrs, ControlPlane};
use crate::dns::{self, Zones};
use crate::frontdoor::FrontDoor;
use crate::gateway::{Door, Gateway};
use crate::pki::Pki;
use crate::proxy::Proxy;
use crate::runtime::{FaultCell, Tasks};
use crate::slot::{Reach, Slot};
use crate::{
    ConnectionState, DoctorSpec, Faults, HybridFault, IntegrationFault, LabError,
    PublicEndpointFault, Scenario, TargetsFault, Topology, LAB_ACCESS_KEY_ID,
    LAB_SECRET_ACCESS_KEY, PROVIDER_ACCOUNT, PROVIDER_ROLE_ARN,
};

/// Credentials the doctor uses against the lab's moto server (any value works there).
const MOTO_KEY: &str = "testing";

/// What a fault-controlled listener stands for.
enum Role {
    /// The endpoint ENI in this AZ (security group: `sg_drop`).
    Eni(String),
    /// A PrivateLink endpoint ENI in this AZ: NLB A's target (path A).
    PrivateLink(String),
    /// The IP target in another network: NLB B's target (path B).
    Hybrid,
    /// The provider NLB's target, the EKS service (path A's far end).
    Provider,
    /// A VPC link's NLB, behind its security group (`link_nlb_sg_blocks`).
    LinkNlb,
    /// A stale address NLB A targets under `targets = "ip_drift"`: nothing there.
    Stale,
    /// API Gateway's public front end, as the client's network reaches it (`public_endpoint`).
    Public,
}

impl Role {
    fn reach(&self, faults: &Faults) -> Reach {
        let target = match faults.integration {
            IntegrationFault::TargetRefused => Reach::Refuse,
            IntegrationFault::TargetBlackhole => Reach::Drop,
            _ if faults.targets == TargetsFault::Unhealthy => Reach::Refuse,
            _ if faults.targets == TargetsFault::AzNotEnabled => Reach::Drop,
            _ => Reach::Open,
        };
        match self {
            Role::Eni(az) if faults.sg_drop.contains(az) => Reach::Drop,
            Role::Eni(_) if faults.sg_source == crate::SgSource::OtherGroup => Reach::Drop,
            Role::Eni(_) if faults.client_network.drops() => Reach::Drop,
            Role::Eni(_) if faults.execute_api_endpoint_state != crate::VpceState::Available => {
                Reach::Drop
            }
            Role::Eni(_) => Reach::Open,
            // Not accepted (or rejected): the endpoint's ENIs carry no traffic.
            Role::PrivateLink(az) if faults.provider_missing_azs.contains(az) => Reach::Drop,
            Role::PrivateLink(_)
                if faults.endpoint_connection != ConnectionState::Available
                    || faults.service_endpoint_sg_blocks =>
            {
                Reach::Drop
            }
            Role::PrivateLink(_) => target,
            Role::Hybrid if faults.hybrid_route != crate::HybridRoute::Ok => Reach::Drop,
            Role::Hybrid => match faults.hybrid_target {
                HybridFault::Timeout | HybridFault::PublicIp => Reach::Drop,
                HybridFault::Refused => Reach::Refuse,
                HybridFault::Ok => target,
            },
            Role::Stale => Reach::Drop,
            Role::Provider if faults.provider_targets_unhealthy => Reach::Refuse,
            Role::Provider => Reach::Open,
            Role::LinkNlb if faults.link_nlb_sg_blocks => Reach::Drop,
            Role::LinkNlb => Reach::Open,
            Role::Public => match faults.public_endpoint {
                PublicEndpointFault::Forbidden | PublicEndpointFault::Open => Reach::Open,
                PublicEndpointFault::Refused => Reach::Refuse,
                PublicEndpointFault::Timeout => Reach::Drop,
            },
        }
    }
}

/// The lab's temporary directory (holds `ca.pem`), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, LabError> {
        let path = std::env::temp_dir().join(format!(
            "pgw-lab-{}-{:012x}",
            std::process::id(),
            crate::ids::random_u64() & 0xffff_ffff_ffff
        ));
        std::fs::create_dir_all(&path).map_err(|source| LabError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running replica of the topology of one scenario. Dropping it stops everything.
pub struct Lab {
    name: String,
    topology: Topology,
    doctor: DoctorSpec,
    faults: FaultCell,
    tasks: Tasks,
    resolver: SocketAddr,
    port: u16,
    ca_file: PathBuf,
    enis: Vec<(String, Ipv4Addr)>,
    /// (role, address) of every hop, for `describe`.
    hops: Vec<(String, SocketAddr)>,
    controlled: Vec<(Role, Arc<Slot>)>,
    /// The NLBs' ports without a listener (always dropping).
    _unlistened: Vec<Arc<Slot>>,
    /// The moto server, when the scenario has `[control_plane] enabled = true`.
    control: Option<ControlPlane>,
    /// The public DNS server, when the doctor checks the public side.
    public_resolver: Option<SocketAddr>,
    /// The diagnosing host's IMDSv2.
    imds: SocketAddr,
    // Dropped last: the address block lock and the directory.
    _block: Block,
    _dir: TempDir,
}

fn bind_slot(what: &'static str, addr: SocketAddr) -> Result<Arc<Slot>, LabError> {
    Slot::bind(addr).map_err(|source| LabError::Bind { what, addr, source })
}

/// A DNS server on `ip` that answers the lab's names as public DNS does (the API's name is the
/// public front end): a corporate resolver that does not forward, or the internet's view.
fn public_view_dns(
    ip: Ipv4Addr,
    what: &'static str,
    zones: &Arc<Zones>,
    tasks: &Tasks,
) -> Result<SocketAddr, LabError> {
    let (udp, tcp, addr) = dns::bind(ip).map_err(|source| LabError::Bind {
        what,
        addr: v4(ip, 0),
        source,
    })?;
    let public = Faults {
        dns: crate::DnsFault::Public,
        ..Faults::default()
    };
    dns::serve(udp, tcp, zones.clone(), FaultCell::new(public), tasks);
    Ok(addr)
}

fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// Binds one listener per address, all on the same port (the doctor has one `--port`).
fn bind_same_port(ips: &[Ipv4Addr]) -> Result<Vec<Arc<Slot>>, LabError> {
    let mut last = None;
    for _ in 0..20 {
        let first = bind_slot("endpoint ENI", v4(ips[0], 0))?;
        let port = first.addr().port();
        let mut slots = vec![first];
        for ip in &ips[1..] {
            match Slot::bind(v4(*ip, port)) {
                Ok(s) => slots.push(s),
                Err(source) => {
                    last = Some(LabError::Bind {
                        what: "front end",
                        addr: v4(*ip, port),
                        source,
                    });
                    break;
                }
            }
        }
        if slots.len() == ips.len() {
            return Ok(slots);
        }
    }
    Err(last.unwrap_or(LabError::NoFreeBlock(0)))
}

impl Lab {
    /// Starts every component of `scenario` on a fresh 127.A.B.0/24 block.
    pub async fn start(scenario: &Scenario) -> Result<Lab, LabError> {
        scenario.validate()?;
        let mut topo = scenario.topology.clone();
        topo.azs = topo.azs();
        let block = Block::reserve()?;
        let dir = TempDir::new()?;
        let pki = Arc::new(Pki::generate(&topo.region, &topo.domain_name)?);
        let ca_file = dir.0.join("ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).map_err(|source| LabError::Io {
            path: ca_file.clone(),
            source,
        })?;
        let faults = FaultCell::new(scenario.faults.clone());
        let tasks = Tasks::default();
        let mut hops = Vec::new();
        let mut controlled = Vec::new();

        // Backends.
        let backend_a = bind_slot("backend A", v4(block.ip(host::BACKEND_A), 0))?;
        let backend_b = bind_slot("backend B", v4(block.ip(host::BACKEND_B), 0))?;
        for (slot, flavor) in [(&backend_a, Flavor::Eks), (&backend_b, Flavor::Nginx)] {
            let timeout = topo.integration_timeout_ms;
            backend::serve(slot.clone(), flavor, faults.clone(), timeout, &tasks);
        }
        // Path A: provider NLB ← PrivateLink endpoint ENIs ← NLB A.
        let provider_nlb = bind_slot("provider NLB", v4(block.ip(host::PROVIDER_NLB), 0))?;
        Proxy::new("provider-nlb", vec![backend_a.addr()]).serve(provider_nlb.clone(), &tasks);
        let mut privatelink = Vec::new();
        for i in 0..2u8 {
            let slot = bind_slot("PrivateLink ENI", v4(block.ip(host::PRIVATELINK + i), 0))?;
            Proxy::new("privatelink", vec![provider_nlb.addr()]).serve(slot.clone(), &tasks);
            privatelink.push(slot);
        }
        // Where NLB A's targets point after the endpoint was recreated (`ip_drift`): nothing.
        let mut stale = Vec::new();
        for i in 0..2u8 {
            let slot = bind_slot("stale NLB target", v4(block.ip(host::STALE_TARGET + i), 0))?;
            controlled.push((Role::Stale, slot.clone()));
            stale.push(slot);
        }
        let nlb_a = bind_slot("NLB A", v4(block.ip(host::NLB_A), 0))?;
        let targets_a = privatelink.iter().map(|s| s.addr()).collect();
        let drifted = stale.iter().map(|s| s.addr()).collect();
        Proxy::with_drift("nlb-a", targets_a, faults.clone(), drifted).serve(nlb_a.clone(), &tasks);
        // Path B: NLB B → nginx in another network.
        let nlb_b = bind_slot("NLB B", v4(block.ip(host::NLB_B), 0))?;
        let b = vec![backend_b.addr()];
        Proxy::with_drift("nlb-b", b.clone(), faults.clone(), b).serve(nlb_b.clone(), &tasks);
        // A port of each NLB with no listener (`listener_port_mismatch`): an NLB drops what
        // arrives there, so SYNs go unanswered.
        let mut unlistened = Vec::new();
        for (what, ip) in [
            ("NLB A, no listener", host::NLB_A),
            ("NLB B, no listener", host::NLB_B),
        ] {
            let slot = bind_slot(what, v4(block.ip(ip), 0))?;
            slot.set_reach(Reach::Drop)
                .map_err(|source| LabError::Bind {
                    what,
                    addr: slot.addr(),
                    source,
                })?;
            unlistened.push(slot);
        }

        // API Gateway front ends: one ENI per AZ plus the public front end, one port.
        let azs = topo.azs.clone();
        let mut ips: Vec<Ipv4Addr> = (0..azs.len())
            .map(|i| block.ip(host::ENI + i as u8))
            .collect();
        ips.push(block.ip(host::PUBLIC_FRONT_END));
        let mut doors = bind_same_port(&ips)?;
        let public = doors.pop().expect("public front end");
        let port = public.addr().port();
        let gateway = Arc::new(Gateway {
            topo: topo.clone(),
            faults: faults.clone(),
            nlb_a: nlb_a.addr(),
            nlb_b: nlb_b.addr(),
            unlistened: [unlistened[0].addr(), unlistened[1].addr()],
            logs: std::sync::OnceLock::new(),
        });
        let front = |door| FrontDoor {
            door,
            gateway: gateway.clone(),
            pki: pki.clone(),
            faults: faults.clone(),
        };
        front(Door::Public).serve(public.clone(), &tasks);
        controlled.push((Role::Public, public.clone()));
        let mut enis = Vec::new();
        for (az, slot) in azs.iter().zip(&doors) {
            front(Door::Endpoint).serve(slot.clone(), &tasks);
            hops.push((format!("endpoint ENI {az}"), slot.addr()));
            enis.push((az.clone(), ips[enis.len()]));
            controlled.push((Role::Eni(az.clone()), slot.clone()));
        }

        // The resolver.
        let dns_ip = block.ip(host::DNS);
        let (udp, tcp, resolver) = dns::bind(dns_ip).map_err(|source| LabError::Bind {
            what: "DNS",
            addr: v4(dns_ip, 0),
            source,
        })?;
        let zones = Arc::new(Zones::new(&topo, &enis, block.ip(host::PUBLIC_FRONT_END)));
        dns::serve(udp, tcp, zones.clone(), faults.clone(), &tasks);
        // `client_resolver = "corporate"`: the doctor asks a DNS server of its own organisation in the
        // VPC, not the VPC resolver; it answers the API's name from public DNS.
        let mut resolver = resolver;
        if scenario.faults.client_resolver == crate::ClientResolver::Corporate {
            let corporate = public_view_dns(
                block.ip(host::CORPORATE_DNS),
                "corporate DNS",
                &zones,
                &tasks,
            )?;
            hops.insert(0, ("VPC resolver (UDP+TCP)".into(), resolver));
            resolver = corporate;
        }

        // `doctor.check_public`: a public DNS server (the internet's view): the API's name is
        // the public front end.
        let mut public_resolver = None;
        if scenario.doctor.check_public {
            let addr = public_view_dns(block.ip(host::PUBLIC_DNS), "public DNS", &zones, &tasks)?;
            hops.push(("public DNS (UDP+TCP)".into(), addr));
            public_resolver = Some(addr);
        }
        // The diagnosing host's instance metadata (IMDSv2).
        let imds_ip = block.ip(host::IMDS);
        let imds_listener = tokio::net::TcpListener::bind(v4(imds_ip, 0))
            .await
            .map_err(|source| LabError::Bind {
                what: "instance metadata",
                addr: v4(imds_ip, 0),
                source,
            })?;
        let imds = imds_listener
            .local_addr()
            .map_err(|source| LabError::Bind {
                what: "instance metadata",
                addr: v4(imds_ip, 0),
                source,
            })?;
        let instance = crate::imds::Instance {
            account: topo.account.clone(),
            region: topo.region.clone(),
            az: topo.azs()[0].clone(),
        };
        crate::imds::serve(imds_listener, instance, &tasks);
        hops.push(("instance metadata (IMDSv2)".into(), imds));
        hops.insert(0, ("resolver (UDP+TCP)".into(), resolver));
        hops.push(("public front end".into(), public.addr()));
        hops.push(("NLB A (VPC link, path A)".into(), nlb_a.addr()));
        for (i, slot) in privatelink.iter().enumerate() {
            hops.push(("PrivateLink endpoint ENI".into(), slot.addr()));
            let az = azs[i % azs.len()].clone();
            controlled.push((Role::PrivateLink(az), slot.clone()));
        }
        hops.push(("provider NLB".into(), provider_nlb.addr()));
        hops.push(("backend A (EKS orders)".into(), backend_a.addr()));
        hops.push(("NLB B (VPC link, path B)".into(), nlb_b.addr()));
        hops.push(("backend B (nginx, other network)".into(), backend_b.addr()));
        controlled.push((Role::Hybrid, backend_b.clone()));
        controlled.push((Role::Provider, backend_a.clone()));
        controlled.push((Role::LinkNlb, nlb_a.clone()));
        controlled.push((Role::LinkNlb, nlb_b.clone()));

        let control = if scenario.control_plane.enabled {
            let addrs = Addrs {
                net: {
                    let o = block.ip(0).octets();
                    format!("{}.{}.{}", o[0], o[1], o[2])
                },
                enis: azs
                    .iter()
                    .zip(&doors)
                    .map(|(az, s)| (az.clone(), s.addr()))
                    .collect(),
                privatelink: privatelink.iter().map(|s| s.addr()).collect(),
                stale: stale.iter().map(|s| s.addr()).collect(),
                nlb_a: nlb_a.addr(),
                nlb_b: nlb_b.addr(),
                unlistened: [unlistened[0].addr(), unlistened[1].addr()],
                provider_nlb: provider_nlb.addr(),
                backend_a: backend_a.addr(),
                backend_b: backend_b.addr(),
            };
            let seed = control::seed(&topo, &scenario.faults, &addrs);
            let cp = ControlPlane::start(addrs, &seed, &dir.0).await?;
            hops.push(("AWS control plane (moto)".into(), cp.addr()));
            let _ = gateway.logs.set(cp.addr());
            let (moto, t, f) = (cp.addr(), topo.clone(), scenario.faults.clone());
            tokio::task::spawn_blocking(move || crate::exec_log::write_history(moto, &t, &f))
                .await
                .map_err(|e| LabError::ControlPlane(e.to_string()))?
                .map_err(LabError::ControlPlane)?;
            Some(cp)
        } else {
            None
        };

        let lab = Lab {
            name: scenario.name.clone(),
            topology: topo,
            doctor: scenario.doctor.clone(),
            faults,
            tasks,
            resolver,
            port,
            ca_file,
            enis,
            hops,
            controlled,
            _unlistened: unlistened,
            control,
            public_resolver,
            imds,
            _block: block,
            _dir: dir,
        };
        lab.apply_reach(&scenario.faults);
        Ok(lab)
    }

    fn apply_reach(&self, faults: &Faults) {
        for (role, slot) in &self.controlled {
            if let Err(e) = slot.set_reach(role.reach(faults)) {
                tracing::warn!(addr = %slot.addr(), error = %e, "cannot switch listener");
            }
        }
    }

    /// Replaces the faults; effective for new connections, requests and queries. With a
    /// control plane, moto is re-seeded before this returns (blocking for a few hundred ms;
    /// ids of the VPC, subnets, security groups, ENIs, target groups and deployments change).
    pub fn set_faults(&self, faults: Faults) {
        if let Err(e) = faults.validate(&self.topology) {
            tracing::warn!("set_faults: {e}");
        }
        if let Some(cp) = &self.control {
            let seed = control::seed(&self.topology, &faults, &cp.addrs);
            if let Err(e) = cp.reseed(&seed) {
                tracing::warn!("set_faults: re-seeding the control plane failed: {e}");
            }
        }
        self.faults.set(faults.clone());
        self.apply_reach(&faults);
    }

    /// Answer these AWS operations (as in [`crate::DENIABLE_OPERATIONS`]) with AccessDenied from
    /// now on, leaving the control plane's resources as they are (resources a test made through
    /// the AWS API included; [`Lab::set_faults`] would rebuild them).
    pub fn deny_aws(&self, operations: &[&str]) {
        if let Some(cp) = &self.control {
            let ops: Vec<String> = operations.iter().map(|s| s.to_string()).collect();
            if let Err(e) = cp.deny(&ops) {
                tracing::warn!("deny_aws: {e}");
            }
        }
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.faults.get()
    }

    /// The topology (with the AZ list filled in).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The lab resolver (UDP and TCP).
    pub fn resolver(&self) -> SocketAddr {
        self.resolver
    }

    /// The TCP port of every execute-api front end (endpoint ENIs and public front end).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PEM file of the lab CA.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The endpoint ENIs: (AZ, address).
    pub fn eni_addrs(&self) -> Vec<(String, IpAddr)> {
        self.enis
            .iter()
            .map(|(az, ip)| (az.clone(), IpAddr::V4(*ip)))
            .collect()
    }

    /// Every hop of the topology with its address.
    pub fn hops(&self) -> &[(String, SocketAddr)] {
        &self.hops
    }

    /// The full pgw-doctor argv (without the program name) for this scenario.
    pub fn doctor_args(&self) -> Vec<String> {
        let t = &self.topology;
        let d = &self.doctor;
        let vpce_dns = d
            .vpce_dns_override
            .clone()
            .unwrap_or_else(|| t.vpce_regional_dns());
        let mut args: Vec<String> = [
            "--api-id",
            &t.api_id,
            "--region",
            &t.region,
            "--resolver",
            &self.resolver.to_string(),
            "--port",
            &self.port.to_string(),
            "--invoke-via",
            &d.invoke_via,
            "--vpce-id",
            &t.vpce_id,
            "--vpce-dns",
            &vpce_dns,
            "--timeout",
            &d.timeout,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !d.vpce_dns {
            let at = args
                .iter()
                .position(|a| a == "--vpce-dns")
                .expect("in argv");
            args.drain(at..at + 2);
        }
        if !d.discover_stage {
            args.splice(4..4, ["--stage".to_string(), t.stage.clone()]);
        }
        match self.aws_endpoint_url() {
            None => args.push("--no-aws".into()),
            Some(url) => args.extend([
                "--aws-endpoint-url".into(),
                url,
                "--role".into(),
                format!("{PROVIDER_ACCOUNT}={PROVIDER_ROLE_ARN}"),
            ]),
        }
        if d.trust_lab_ca {
            args.push("--ca-file".into());
            args.push(self.ca_file.display().to_string());
        }
        if d.sigv4 {
            args.push("--sigv4".into());
        }
        if let Some(r) = self.public_resolver {
            args.extend([
                "--check-public".into(),
                "--public-resolver".into(),
                r.to_string(),
            ]);
        }
        if d.invoke_via == "custom-domain" {
            args.extend([
                "--domain-name".into(),
                t.domain_name.clone(),
                "--base-path".into(),
                t.base_path.clone(),
            ]);
        }
        for p in &d.paths {
            args.push("--path".into());
            args.push(p.clone());
        }
        args.extend(d.extra_args.iter().cloned());
        args
    }

    /// The URL of the diagnosing host's instance metadata service (IMDSv2), for
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub fn imds_endpoint(&self) -> String {
        format!("http://{}", self.imds)
    }

    /// The URL of the lab's AWS control plane (moto), when the scenario runs one.
    pub fn aws_endpoint_url(&self) -> Option<String> {
        self.control.as_ref().map(|c| c.url().to_string())
    }

    /// The environment pgw-doctor needs: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (the lab
    /// credentials when the scenario signs requests, else moto's test credentials) and
    /// `AWS_REGION` when there is a control plane; the lab credentials alone when the scenario
    /// only signs; nothing otherwise.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        let (key, secret) = if self.doctor.credentials {
            (LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY)
        } else if self.control.is_some() {
            (MOTO_KEY, MOTO_KEY)
        } else {
            return Vec::new();
        };
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), key.to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string()),
        ];
        if self.control.is_some() {
            env.push(("AWS_REGION".into(), self.topology.region.clone()));
            env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
        }
        env
    }

    /// The shell command line running pgw-doctor against this lab, with [`Lab::aws_env`].
    pub fn doctor_command(&self) -> String {
        let mut words: Vec<String> = self
            .aws_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(&v)))
            .collect();
        words.push("pgw-doctor".into());
        words.extend(self.doctor_args().iter().map(|a| shell_quote(a)));
        words.join(" ")
    }

    /// A human description: names, addresses and the doctor command.
    pub fn describe(&self) -> String {
        let t = &self.topology;
        let mut s = format!("pgw-lab scenario {:?} is up\n\n", self.name);
        let _ = writeln!(s, "names (answered by the lab resolver {}):", self.resolver);
        for name in [t.api_host(), t.alias_host(), t.vpce_regional_dns()] {
            let _ = writeln!(s, "  {name}");
        }
        for az in &t.azs {
            let _ = writeln!(s, "  {}", t.vpce_zonal_dns(az));
        }
        let _ = writeln!(s, "\nhops:");
        for (role, addr) in &self.hops {
            let _ = writeln!(s, "  {role:<34} {addr}");
        }
        let _ = writeln!(s, "\nlab CA: {}", self.ca_file.display());
        let _ = writeln!(s, "\ndiagnose it with:\n  {}", self.doctor_command());
        s
    }

    /// Stops every task and releases every address (also done, without waiting, on drop).
    pub async fn shutdown(self) {
        self.tasks.stop().await;
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.tasks.cancel();
    }
}

/// Quotes `arg` for a POSIX shell when needed.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting() {
        assert_eq!(super::shell_quote("/tmp/x.pem"), "/tmp/x.pem");
        assert_eq!(super::shell_quote("a b"), "'a b'");
        assert_eq!(super::shell_quote("it's"), r"'it'\''s'");
    }
}
