//! `--remote-write`: the agent's series pushed to a real Prometheus (its remote-write receiver)
//! with the external labels; to a receiver that verifies SigV4 for service `aps` (signed pushes
//! pass, a tampered one does not); and through a receiver that fails for a while (503), losing
//! nothing within the queue bound.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pgw::agent::remote_write::wire;

use crate::promkit::{probe_toml, temp_dir, wait_until, Agent, Labs, Prometheus};

/// A remote-write receiver on loopback: answers 503 while `failing`, 403 with the reason when
/// `sigv4` and the signature does not verify, else 204 — and records the pushes it accepted
/// (head and body).
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(http::request::Parts, Bytes)>>>,
    failing: Arc<AtomicBool>,
}

fn receiver(sigv4: bool) -> Receiver {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<(http::request::Parts, Bytes)>>> = Arc::default();
    let failing = Arc::new(AtomicBool::new(false));
    let (g, f) = (got.clone(), failing.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (g, f) = (g.clone(), f.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (g, f) = (g.clone(), f.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let verdict = if sigv4 {
                                pgw_lab::sigv4::verify_signed(
                                    &parts,
                                    &body,
                                    ("aps", "us-east-1"),
                                    (pgw_lab::LAB_ACCESS_KEY_ID, pgw_lab::LAB_SECRET_ACCESS_KEY),
                                    SystemTime::now(),
                                )
                            } else {
                                Ok(())
                            };
                            let (status, text) = match verdict {
                                _ if f.load(Ordering::SeqCst) => {
                                    (503, "failing on purpose".to_string())
                                }
                                Err(why) => (403, why),
                                Ok(()) => (204, String::new()),
                            };
                            if status == 204 {
                                g.lock().unwrap().push((parts, body));
                            }
                            let mut r = http::Response::new(Full::new(Bytes::from(text)));
                            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    Receiver { addr, got, failing }
}

/// The timestamps of `name`'s samples in the pushes `got`.
fn timestamps(got: &[(http::request::Parts, Bytes)], name: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for (_, body) in got {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        let req = <wire::WriteRequest as prost::Message>::decode(raw.as_slice()).unwrap();
        for ts in &req.timeseries {
            if ts
                .labels
                .iter()
                .any(|l| l.name == "__name__" && l.value == name)
            {
                out.extend(ts.samples.iter().map(|s| s.timestamp));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn write_config(body: &str) -> String {
    let path = temp_dir("remote-write").join("remote-write.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[test]
fn a_real_prometheus_receives_the_series_with_the_external_labels() {
    let labs = Labs::new();
    let lab = labs.start("healthy_path_a");
    let prom = Prometheus::receiver();
    let file = write_config(&format!(
        "[remote_write]\nurl = \"http://{}/api/v1/write\"\ninterval = \"1s\"\n[remote_write.external_labels]\nfleet = \"lab\"\n",
        prom.addr
    ));
    // On the lab's "EC2": the default external labels say where the agent runs.
    let env = [
        ("AWS_EC2_METADATA_DISABLED".to_string(), "false".to_string()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string(),
            lab.imds_endpoint(),
        ),
    ];
    let agent = Agent::start_with(
        &[("orders", probe_toml("orders", &lab))],
        &env,
        &["--remote-write", &file],
    );
    let series = wait_until("the probe's success in Prometheus", || {
        let r = prom.query("pgw_probe_success{probe=\"orders\", fleet=\"lab\"} == 1")?;
        r.first().cloned().ok_or_else(|| "none yet".to_string())
    });
    let m = &series["metric"];
    assert_eq!(m["account"], "111122223333", "{series}");
    assert_eq!(m["vpc_id"], "vpc-0a1b2c3d4e5f60031", "{series}");
    assert_eq!(m["az"], "us-east-1a", "{series}");
    assert_eq!(m["instance_id"], "i-0a1b2c3d4e5f60071", "{series}");
    // The per-ENI checks too, and the agent counts what it sent.
    assert!(!prom
        .query("pgw_check_success{probe=\"orders\", layer=\"tcp\", fleet=\"lab\"}")
        .unwrap()
        .is_empty());
    agent.metrics_until("samples counted as sent", |t| {
        t.contains("pgw_remote_write_samples_total{result=\"sent\"}")
    });
    labs.stop(lab);
}

#[test]
fn signed_pushes_verify_for_aps_and_a_tampered_one_does_not() {
    let labs = Labs::new();
    let lab = labs.start("healthy_path_a");
    let rx = receiver(true);
    let file = write_config(&format!(
        "[remote_write]\nurl = \"http://{}/api/v1/write\"\ninterval = \"1s\"\n[remote_write.sigv4]\nregion = \"us-east-1\"\n",
        rx.addr
    ));
    let env = [
        (
            "AWS_ACCESS_KEY_ID".to_string(),
            pgw_lab::LAB_ACCESS_KEY_ID.to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            pgw_lab::LAB_SECRET_ACCESS_KEY.to_string(),
        ),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
    ];
    let agent = Agent::start_with(
        &[("orders", probe_toml("orders", &lab))],
        &env,
        &["--remote-write", &file],
    );
    let m = agent.metrics_until("two signed pushes accepted", |t| {
        rx.got.lock().unwrap().len() >= 2
            && t.contains("pgw_remote_write_samples_total{result=\"sent\"}")
    });
    assert!(!m.contains("result=\"rejected\""), "{m}");
    let (parts, body) = rx.got.lock().unwrap()[0].clone();
    let key = (pgw_lab::LAB_ACCESS_KEY_ID, pgw_lab::LAB_SECRET_ACCESS_KEY);
    let auth = parts.headers["authorization"].to_str().unwrap().to_string();
    assert!(auth.contains("/us-east-1/aps/aws4_request"), "{auth}");
    let now = SystemTime::now();
    assert!(pgw_lab::sigv4::verify_signed(&parts, &body, ("aps", "us-east-1"), key, now).is_ok());
    let mut tampered = body.to_vec();
    tampered[0] ^= 1;
    assert!(
        pgw_lab::sigv4::verify_signed(&parts, &tampered, ("aps", "us-east-1"), key, now).is_err()
    );
    assert!(
        pgw_lab::sigv4::verify_signed(&parts, &body, ("execute-api", "us-east-1"), key, now)
            .is_err()
    );
    labs.stop(lab);
}

#[test]
fn a_receiver_failing_for_a_while_loses_nothing_within_the_bound() {
    let labs = Labs::new();
    let lab = labs.start("healthy_path_a");
    let rx = receiver(false);
    let file = write_config(&format!(
        "[remote_write]\nurl = \"http://{}/api/v1/write\"\ninterval = \"1s\"\n",
        rx.addr
    ));
    let agent = Agent::start_with(
        &[("orders", probe_toml("orders", &lab))],
        &[],
        &["--remote-write", &file],
    );
    wait_until("a first push", || {
        (!rx.got.lock().unwrap().is_empty())
            .then_some(())
            .ok_or_else(|| "none".to_string())
    });
    rx.failing.store(true, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_secs(5));
    agent.metrics_until("samples queued while failing", |t| {
        !t.contains("pgw_remote_write_queue_samples 0")
    });
    rx.failing.store(false, Ordering::SeqCst);
    let m = agent.metrics_until("the queue drained", |t| {
        t.contains("pgw_remote_write_queue_samples 0")
    });
    assert!(!m.contains("result=\"dropped\""), "{m}");
    // Accepted pushes only: every interval's sample arrived, in order, none missing.
    let got = rx.got.lock().unwrap().clone();
    let stamps = timestamps(&got, "pgw_build_info");
    assert!(stamps.len() >= 6, "{stamps:?}");
    for w in stamps.windows(2) {
        assert!(w[1] - w[0] <= 1_600, "a gap in {stamps:?}");
    }
    labs.stop(lab);
}
