//! Bad input: exit 2, one line on stderr naming the problem, nothing on stdout.

use crate::support::{doctor, repo, run};

fn assert_usage_error(args: &[&str], needle: &str) {
    let mut c = doctor();
    c.args(args);
    let out = run(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {stderr}");
    assert!(out.stdout.is_empty(), "args {args:?}: stdout not empty");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "args {args:?}: not one line: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "args {args:?}: {stderr:?} lacks {needle:?}"
    );
}

#[test]
fn unknown_flag() {
    assert_usage_error(&["--api-id", "3eqr0osoc3", "--frobnicate"], "--frobnicate");
}

#[test]
fn malformed_api_id() {
    assert_usage_error(
        &[
            "--api-id",
            "NOT-AN-ID",
            "--region",
            "us-east-1",
            "--stage",
            "test",
            "--no-aws",
        ],
        "--api-id: invalid API id",
    );
}

#[test]
fn no_stage_with_no_aws() {
    // Stage discovery needs AWS.
    assert_usage_error(
        &[
            "--api-id",
            "3eqr0osoc3",
            "--region",
            "us-east-1",
            "--no-aws",
        ],
        "--stage: required with --no-aws (stage discovery needs AWS access)",
    );
}

#[test]
fn unreadable_ca_file() {
    assert_usage_error(
        &[
            "--api-id",
            "3eqr0osoc3",
            "--region",
            "us-east-1",
            "--stage",
            "test",
            "--no-aws",
            "--ca-file",
            "/nonexistent/lab-ca.pem",
        ],
        "--ca-file: cannot read CA file",
    );
}

#[test]
fn bad_timeout_value() {
    assert_usage_error(
        &[
            "--api-id",
            "3eqr0osoc3",
            "--region",
            "us-east-1",
            "--stage",
            "test",
            "--timeout",
            "soon",
        ],
        "--timeout: invalid duration",
    );
}

#[test]
fn probe_file_unknown_key_names_file_line_column() {
    let dir = std::env::temp_dir().join(format!("pgw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(
        &p,
        "api_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\ntimout = \"2s\"\n",
    )
    .unwrap();
    let needle = format!("{}:4:1: unknown field `timout`", p.display());
    assert_usage_error(&["--config", p.to_str().unwrap()], &needle);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shipped_probe_examples_are_valid() {
    // --check-config is the agent's; for the doctor, a probe file with an unreachable resolver
    // must get past validation. Here we only parse and validate the examples.
    for entry in std::fs::read_dir(repo().join("probes")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let (pf, src) = pgw::config::read_probe_file(&p).unwrap_or_else(|e| panic!("{e}"));
        pgw::config::build(Some((&p, &src, &pf)), &Default::default(), None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The completion scripts load in bash; the manual pages render with man.
#[test]
fn completions_load_in_bash_and_man_renders_the_pages() {
    let dir = std::env::temp_dir().join(format!("pgw-cli-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doctor_bin = env!("CARGO_BIN_EXE_pgw-doctor");
    let agent_bin = env!("CARGO_BIN_EXE_pgw-agent");
    for (name, completions, man) in [
        (
            "pgw-doctor",
            vec![doctor_bin, "completions", "bash"],
            vec![doctor_bin, "man"],
        ),
        (
            "pgw-agent",
            vec![agent_bin, "--completions", "bash"],
            vec![agent_bin, "--man"],
        ),
    ] {
        let script = std::process::Command::new(completions[0])
            .args(&completions[1..])
            .output()
            .unwrap();
        assert!(script.status.success());
        let file = dir.join(format!("{name}.bash"));
        std::fs::write(&file, &script.stdout).unwrap();
        let check = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(". {} && complete -p {name}", file.display()))
            .output()
            .unwrap();
        let registered = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(registered.contains(name), "{registered}");

        let page = std::process::Command::new(man[0])
            .args(&man[1..])
            .output()
            .unwrap();
        assert!(page.status.success());
        let file = dir.join(format!("{name}.1"));
        std::fs::write(&file, &page.stdout).unwrap();
        let shown = std::process::Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        assert!(text.contains(name) && text.contains("SYNOPSIS"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run that waits (here on an integration that never answers) shows one progress line on a
/// terminal's stderr, and nothing when stderr is not a terminal.
#[test]
fn a_run_that_waits_says_so_on_a_terminal_only() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let path = repo().join("lab/scenarios/deadline_everything_blackholed.toml");
        let s = pgw_lab::Scenario::load(&path).unwrap();
        let lab = pgw_lab::Lab::start(&s).await.unwrap();
        let args = lab.doctor_args();
        let mut plain = doctor();
        plain.args(&args);
        let out = tokio::process::Command::from(plain).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("waiting:"), "{stderr}");
        // `script` runs the doctor on a pseudo-terminal and copies what it shows.
        let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_pgw-doctor").to_string())
            .chain(args.iter().cloned())
            .map(|a| format!("'{a}'"))
            .collect();
        let mut tty = crate::support::clean("script");
        tty.args(["-qec", &line.join(" "), "/dev/null"]);
        let out = tokio::process::Command::from(tty).output().await.unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains("waiting: HTTP"), "{shown}");
        assert!(shown.contains("s left"), "{shown}");
        assert!(shown.contains("integration_timeout"), "{shown}");
        lab.shutdown().await;
    });
}

/// Listeners on 127.0.6.1..=`n`, one port, that accept every connection and hold it open without
/// a word (each probe connection keeps its descriptor until the deadline); the port.
fn holding_listeners(n: u8) -> u16 {
    let first = std::net::TcpListener::bind("127.0.6.1:0").unwrap();
    let port = first.local_addr().unwrap().port();
    let mut all = vec![first];
    for i in 2..=n {
        all.push(
            std::net::TcpListener::bind((std::net::Ipv4Addr::new(127, 0, 6, i), port)).unwrap(),
        );
    }
    for l in all {
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept() {
                held.push(s);
            }
        });
    }
    port
}

/// A DNS server on loopback (a thread) answering every A query with `n` addresses in 127.0.6.0/24.
fn many_addresses(n: u8) -> std::net::SocketAddr {
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((len, from)) = sock.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            for query in &q.queries {
                r.add_query(query.clone());
                for i in 1..=n {
                    let a = RData::A(A(std::net::Ipv4Addr::new(127, 0, 6, i)));
                    r.add_answer(Record::from_rdata(query.name().clone(), 60, a));
                }
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), from);
        }
    });
    addr
}

/// Out of file descriptors, the doctor says this host could not run the probes (exit 2), never a
/// finding about the chain (it used to report vpce_eni_unreachable).
#[test]
fn a_host_out_of_descriptors_is_not_a_finding() {
    let resolver = many_addresses(16);
    // Connections that stay open: a host this loaded cannot finish, whatever the scheduling.
    let port = holding_listeners(16);
    let line = format!(
        "ulimit -n 24 && exec '{}' --api-id 3eqr0osoc3 --region us-east-1 --stage test \
         --resolver {resolver} --port {port} --no-aws --timeout 3s --output json",
        env!("CARGO_BIN_EXE_pgw-doctor")
    );
    let mut c = crate::support::clean("bash");
    c.args(["-c", &line]);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("this host could not run the probes: Too many open files"),
        "{stderr}"
    );
}
