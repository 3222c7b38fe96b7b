//! pgw-agent as a process: `--check-config`, the HTTP endpoints, reload on SIGHUP keeping the last
//! good configuration, and a SIGTERM drain that exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::agent;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgw-agent-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A probe whose resolver refuses: every run ends quickly with a DNS finding.
fn write_probe(dir: &Path, name: &str) {
    let body = format!(
        "name = \"{name}\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
         resolvers = [\"127.0.0.1:1\"]\nno_aws = true\ntimeout = \"1s\"\ninterval = \"1s\"\n"
    );
    std::fs::write(dir.join(format!("{name}.toml")), body).unwrap();
}

/// `(status, body)` of one HTTP/1.1 request.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    try_http(addr, method, path).unwrap_or_else(|| panic!("{method} {path}: no HTTP response"))
}

/// `(status, body)` of one HTTP/1.1 request, or `None` when the connection fails.
fn try_http(addr: &str, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: pgw\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// A running agent on an ephemeral port serving the probes in `dir`, with `extra` flags.
struct Running {
    child: Child,
    addr: String,
    /// Its stderr (JSON log lines), read to the end on a thread so it never blocks on a full pipe.
    logs: std::thread::JoinHandle<Vec<String>>,
}

fn spawn_agent(dir: &Path, extra: &[&str]) -> Running {
    let mut child = agent()
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(extra)
        .arg("--probes")
        .arg(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("agent exited before listening")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(a) = v["fields"]["listen"].as_str() {
            break a.to_string();
        }
    };
    let logs = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    Running { child, addr, logs }
}

/// Poll `/metrics` until it contains `needle` (bounded, so a broken agent fails the test).
fn metrics_with(addr: &str, needle: &str) -> String {
    for _ in 0..300 {
        let (_, body) = http(addr, "GET", "/metrics");
        if body.contains(needle) {
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("/metrics never contained {needle:?}");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn check_config_contract() {
    let d = temp_dir("check");
    write_probe(&d, "a");
    let out = agent()
        .args(["--check-config", "--probes"])
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    std::fs::write(d.join("b.toml"), "name = \"b\"\ntimout = \"1s\"\n").unwrap();
    let out = agent()
        .args(["--check-config", "--probes"])
        .arg(&d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("b.toml:2:1: unknown field `timout`"),
        "{stderr}"
    );
}

#[test]
fn serves_reloads_and_drains() {
    let d = temp_dir("serve");
    write_probe(&d, "a");
    let Running {
        mut child,
        addr,
        logs,
    } = spawn_agent(&d, &[]);

    assert_eq!(http(&addr, "GET", "/healthz"), (200, "ok\n".to_string()));
    let m = metrics_with(&addr, "pgw_probe_runs_total{probe=\"a\"");
    assert!(
        m.contains("pgw_probe_success{probe=\"a\",api_id=\"3eqr0osoc3\",stage=\"test\"} 0"),
        "{m}"
    );
    assert!(m.contains("pgw_finding{probe=\"a\",id=\"dns_"), "{m}");
    assert!(m.contains("pgw_config_last_reload_successful 1"), "{m}");

    let (status, body) = http(&addr, "GET", "/probe?target=nope");
    assert_eq!(status, 400);
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    let (status, body) = http(&addr, "GET", "/probe?target=a");
    assert_eq!(status, 200);
    assert!(body.contains("\nprobe_success 0\n"), "{body}");

    // A bad file: the reload fails, `a` keeps running.
    std::fs::write(d.join("b.toml"), "name = \"b\"\ntimout = \"1s\"\n").unwrap();
    signal(&child, "-HUP");
    metrics_with(&addr, "pgw_config_last_reload_successful 0");
    let (status, body) = http(&addr, "POST", "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("b.toml:2:1"), "{body}");
    write_probe(&d, "b");
    let (status, body) = http(&addr, "POST", "/-/reload");
    assert_eq!(status, 200, "{body}");
    metrics_with(&addr, "pgw_probe_runs_total{probe=\"b\"");

    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let logs = logs.join().unwrap().join("\n");
    assert!(logs.contains("finding raised"), "{logs}");
    assert!(logs.contains("\"stopped\""), "{logs}");
}

#[test]
fn sigterm_cuts_runs_still_going_at_the_drain_deadline() {
    let d = temp_dir("drain");
    // A resolver that never answers: a run waits out its DNS phase (a third of 30 s).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let body = format!(
        "name = \"slow\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
         resolvers = [\"{}\"]\nno_aws = true\ntimeout = \"30s\"\ninterval = \"1s\"\n",
        silent.local_addr().unwrap()
    );
    std::fs::write(d.join("slow.toml"), body).unwrap();
    let Running {
        mut child, logs, ..
    } = spawn_agent(&d, &["--drain-timeout", "1s"]);
    // The first run starts within an interval and then waits on DNS.
    // (it then waits ~10 s on DNS: any moment in the first seconds finds it in flight).
    std::thread::sleep(std::time::Duration::from_secs(3));
    signal(&child, "-TERM");
    let mut status = None;
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("pgw-agent did not exit after SIGTERM");
    };
    assert_eq!(status.code(), Some(0));
    let logs = logs.join().unwrap().join("\n");
    let cut = logs
        .lines()
        .find(|l| l.contains("drain deadline passed"))
        .unwrap_or_else(|| panic!("no drain-deadline line in {logs}"));
    assert!(cut.contains("slow"), "{cut}");
    assert!(logs.contains("\"stopped\""), "{logs}");
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let d = temp_dir("conns");
    write_probe(&d, "a");
    let Running {
        mut child, addr, ..
    } = spawn_agent(&d, &["--max-connections", "2"]);
    // Two idle clients take every slot (the server holds them until its header timeout).
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut third = TcpStream::connect(&addr).unwrap();
    third
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = third.read(&mut buf);
    assert!(
        matches!(n, Ok(0))
            || n.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the third connection was not closed at once: {n:?}"
    );
    drop(idle);
    // The slots free up once the server sees the idle clients gone; until then a connection may
    // still be closed at once (a reset), so this polls without failing on one.
    let mut m = String::new();
    for _ in 0..100 {
        if let Some((200, body)) = try_http(&addr, "GET", "/metrics") {
            m = body;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(m.contains("pgw_http_connections_rejected_total "), "{m}");
    assert!(!m.contains("pgw_http_connections_rejected_total 0"), "{m}");
    signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The agent reuses a control-plane read for `control_plane_interval` (here 10 minutes), but only
/// while the data plane shows what it showed beside that read. A fault that comes or goes is
/// diagnosed with a fresh read, never against the stale one: that one would say the policy that
/// now denies still allows ("changed but not deployed"), and after the fix that it still denies.
#[test]
fn a_control_read_is_renewed_when_the_data_plane_changes() {
    use crate::promkit::{probe_toml_aws, Agent, Labs};
    use pgw_lab::{Faults, PolicyFault};
    let labs = Labs::new();
    let lab = labs.start("healthy_cp_path_a");
    let probe = probe_toml_aws("orders", &lab).replace(
        "control_plane_interval = \"1s\"",
        "control_plane_interval = \"10m\"",
    );
    let agent = Agent::start_env(&[("orders", probe)], &lab.aws_env());
    let up = "pgw_probe_success{probe=\"orders\",api_id=\"3eqr0osoc3\",stage=\"test\"} 1";
    agent.metrics_until("a healthy run", |m| m.contains(up));
    let healthy = lab.faults();
    lab.set_faults(Faults {
        resource_policy: PolicyFault::OtherVpce,
        ..healthy.clone()
    });
    let m = agent.metrics_until("the policy's own finding", |m| {
        m.contains("pgw_finding{probe=\"orders\",id=\"resource_policy_denies_vpce\"")
    });
    assert!(!m.contains("policy_changed_not_redeployed"), "{m}");
    lab.set_faults(healthy);
    agent.metrics_until("no finding at all once fixed", |m| {
        m.contains(up) && !m.contains("pgw_finding{")
    });
    labs.stop(lab);
}

/// A probe whose chain fails at API Gateway, with the stage's execution logs on: the agent looks
/// at them once per `control_plane_interval` for the same failure, names the cause the log line
/// gives (its page quotes the line) and counts the look.
#[test]
fn the_agent_quotes_the_execution_log_once_per_interval() {
    use crate::promkit::{probe_toml_aws, Agent, Labs};
    let labs = Labs::new();
    let lab = labs.start("cp_log_backend_cert_untrusted");
    let probe = probe_toml_aws("orders", &lab).replace(
        "control_plane_interval = \"1s\"",
        "control_plane_interval = \"10m\"",
    );
    let agent = Agent::start_env(&[("orders", probe)], &lab.aws_env());
    let found = "pgw_execution_log_lookups_total{probe=\"orders\",result=\"found\"} 1\n";
    agent.metrics_until("the cause the log names, and one look", |m| {
        m.contains("pgw_finding{probe=\"orders\",id=\"integration_backend_cert_untrusted\"")
            && m.contains(found)
    });
    // Later runs (1 s apart) reuse that look: still one.
    let runs = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("pgw_probe_runs_total{probe=\"orders\",result=\"failed\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let m = agent.metrics_until("three more runs", |m| runs(m) >= 4);
    assert!(m.contains(found), "{m}");
    assert!(
        m.contains("pgw_finding{probe=\"orders\",id=\"integration_backend_cert_untrusted\""),
        "{m}"
    );
    let (status, page) = agent.get("/probes/orders");
    assert_eq!(status, 200);
    assert!(page.contains("PKIX path building failed"), "{page}");
    labs.stop(lab);
}

/// On EC2 (the lab's IMDSv2 on loopback), the agent says where it runs in `pgw_agent_info`;
/// off EC2 (IMDS unreachable) it says nothing and probes as ever.
#[test]
fn the_agent_says_where_it_runs_on_ec2_and_nothing_off_it() {
    use crate::promkit::{probe_toml, Agent, Labs};
    let labs = Labs::new();
    let lab = labs.start("healthy_path_a");
    let up = "pgw_probe_success{probe=\"orders\",api_id=\"3eqr0osoc3\",stage=\"test\"} 1";
    let on_ec2 = [
        ("AWS_EC2_METADATA_DISABLED".to_string(), "false".to_string()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string(),
            lab.imds_endpoint(),
        ),
    ];
    let agent = Agent::start_env(&[("orders", probe_toml("orders", &lab))], &on_ec2);
    agent.metrics_until("where it runs", |m| {
        m.contains(
            "pgw_agent_info{account=\"111122223333\",region=\"us-east-1\",vpc_id=\"vpc-0a1b2c3d4e5f60031\",az=\"us-east-1a\",instance_id=\"i-0a1b2c3d4e5f60071\"} 1",
        ) && m.contains(up)
    });
    drop(agent);
    // Nothing listens where IMDS should be.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    let off_ec2 = [
        ("AWS_EC2_METADATA_DISABLED".to_string(), "false".to_string()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string(), nowhere),
    ];
    let agent = Agent::start_env(&[("orders", probe_toml("orders", &lab))], &off_ec2);
    let m = agent.metrics_until("a healthy run", |m| m.contains(up));
    assert!(!m.contains("pgw_agent_info{"), "{m}");
    labs.stop(lab);
}
