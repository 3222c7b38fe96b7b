//! The demo's lab helper (`scripts/lib/lab.sh`): every lab it starts is gone when the script ends,
//! on success and on Ctrl-C.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::repo;

/// pgw-lab, built beside the pgw binaries (the workspace's test build builds it).
fn lab_bin() -> PathBuf {
    let doctor = PathBuf::from(env!("CARGO_BIN_EXE_pgw-doctor"));
    let lab = doctor.with_file_name("pgw-lab");
    assert!(
        lab.exists(),
        "{} missing: build the workspace",
        lab.display()
    );
    lab
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// Run `body` after sourcing the helper; the script prints `PIDS <pid>...` once the labs are up,
/// then waits (for a line on stdin, or for SIGINT) so that they are checked while it still runs.
fn run(body: &str, interrupt: bool) -> Vec<u32> {
    let script = format!(
        "set -euo pipefail\n. scripts/lib/lab.sh\nlab_cleanup_on_exit\n{body}\n{}echo PIDS ${{lab_pids[*]}}\n{}",
        // Interrupted: the sleep the script waits on is started before it says it is ready.
        if interrupt { "sleep 30 &\n" } else { "" },
        // `wait` (unlike a foreground command) lets the trap run as soon as the signal comes.
        if interrupt { "wait $!\n" } else { "read -r _\n" }
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo())
        .env("PGW_LAB_BIN", lab_bin())
        .env("PGW_VENV", std::env::var("PGW_VENV").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("PIDS ") {
            pids = rest
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
            break;
        }
    }
    assert!(!pids.is_empty(), "no lab started");
    assert!(
        pids.iter().all(|p| alive(*p)),
        "labs up while the script runs"
    );
    if interrupt {
        // Ctrl-C; again if the first one came before bash could act on it (it exits 130 then).
        for _ in 0..20 {
            let ok = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
            std::thread::sleep(std::time::Duration::from_millis(500));
            if child.try_wait().unwrap().is_some() {
                break;
            }
        }
    } else {
        // Let the script finish normally.
        writeln!(child.stdin.take().unwrap(), "go").unwrap();
    }
    let status = child.wait().unwrap();
    if interrupt {
        assert_eq!(status.code(), Some(130), "{status:?}");
    } else {
        assert!(status.success(), "{status:?}");
    }
    pids
}

#[test]
fn the_demo_leaves_no_lab_running_on_success_or_ctrl_c() {
    let two = "lab_up healthy_path_a\nlab_up missing_root_method\n[ -n \"$LAB_ARGS\" ]";
    for interrupt in [false, true] {
        let pids = run(two, interrupt);
        assert_eq!(pids.len(), 2);
        for p in pids {
            assert!(
                !alive(p),
                "pgw-lab {p} still running (interrupt: {interrupt})"
            );
        }
    }
}
