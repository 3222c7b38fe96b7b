//! The agent's HTTP server (hyper 1, HTTP/1.1): `/metrics`, `/probe?target=<probe name>`
//! (blackbox_exporter's multi-target pattern), `/healthz`, `/` (status page) and
//! `POST /-/reload`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::exposition::{streamed, whole};
use super::pages::{self, esc};
use super::web::{Web, WebState};
use super::Agent;
use crate::metrics;

type Resp = Response<BoxBody<Bytes, std::io::Error>>;

/// A client must send its request head within this (slow clients cannot pin connections).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accept connections until `stop`, at most `max_connections` open at once; each connection
/// finishes its current request.
pub async fn serve(
    listener: TcpListener,
    agent: Arc<Agent>,
    stop: CancellationToken,
    max_connections: usize,
    web: Arc<WebState>,
) {
    let open = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Past the cap a connection is closed at once: clients never take the descriptors the
        // probes need.
        let Ok(slot) = open.clone().try_acquire_owned() else {
            agent.shared.metrics.count_rejected_connection();
            drop(stream);
            continue;
        };
        let (agent, stop, web) = (agent.clone(), stop.clone(), web.get());
        tokio::spawn(async move {
            let _slot = slot;
            match web.tls.clone() {
                None => connection(stream, agent, stop, web).await,
                Some(tls) => {
                    // The handshake has the request head's time limit too.
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, agent, stop, web).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serve one connection (plain or TLS) until it ends or `stop`; every request is authorized first.
async fn connection<I>(io: I, agent: Arc<Agent>, stop: CancellationToken, web: Web)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let web = Arc::new(web);
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (agent, web) = (agent.clone(), web.clone());
        async move {
            let (parts, _body) = req.into_parts();
            let req = Request::from_parts(parts, ());
            let auth = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let ok = match web.authorize_cheaply(auth) {
                Some(r) => r.is_ok(),
                None => {
                    // bcrypt is slow on purpose: checked off the runtime's threads.
                    let auth = auth.map(str::to_string);
                    let web2 = web.clone();
                    tokio::task::spawn_blocking(move || web2.authorize(auth.as_deref()))
                        .await
                        .is_ok_and(|r| r.is_ok())
                }
            };
            if !ok {
                let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Basic realm=\"pgw-agent\""),
                );
                return Ok::<_, Infallible>(r);
            }
            Ok::<_, Infallible>(route(&agent, &req).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Resp {
    let mut r = Response::new(whole(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn with_type(body: String, content_type: &'static str) -> Resp {
    let mut r = Response::new(whole(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

// Content negotiation of `/metrics` and `/probe`: OpenMetrics when asked for, else Prometheus text.

/// `Content-Type` of OpenMetrics text 1.0.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the Prometheus text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let mut it = part.split(';');
            let media = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    == Some(0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !q_zero
        })
    })
}

/// Run `encode` as OpenMetrics text 1.0.0 or Prometheus text 0.0.4 into a body; returns it and
/// its `Content-Type`.
pub fn render(
    encode: impl FnOnce(&mut dyn std::fmt::Write, bool) -> std::fmt::Result,
    openmetrics: bool,
) -> (String, &'static str) {
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a label value.
    if let Err(e) = encode(&mut out, openmetrics) {
        let _ = writeln!(out, "# encoding error: {e}");
    }
    (out, content_type(openmetrics))
}

/// `Content-Type` of OpenMetrics or of Prometheus text.
fn content_type(openmetrics: bool) -> &'static str {
    if openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        TEXT_CONTENT_TYPE
    }
}

/// Answer one request (the body is never needed).
pub async fn route(agent: &Arc<Agent>, req: &Request<()>) -> Resp {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let openmetrics = wants_openmetrics(accept);
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    match req.uri().path() {
        "/metrics" if get => {
            let ct = content_type(openmetrics);
            let body = streamed(
                agent.shared.metrics.clone(),
                metrics::Metrics::encode,
                openmetrics,
            );
            let mut r = Response::new(body);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
            r
        }
        "/probe" if get => probe(agent, req, openmetrics).await,
        "/healthz" if get => text(StatusCode::OK, "ok\n"),
        "/" if get => with_type(status_page(agent), "text/html; charset=utf-8"),
        "/runbooks" if get => with_type(pages::runbook_index(), "text/html; charset=utf-8"),
        path if get && path.starts_with("/runbooks/") => {
            match pages::runbook(&path["/runbooks/".len()..]) {
                Some(h) => with_type(h, "text/html; charset=utf-8"),
                None => text(StatusCode::NOT_FOUND, "no such finding id\n"),
            }
        }
        path if get && path.starts_with("/probes/") => {
            let name = percent_decode(&path["/probes/".len()..]);
            match pages::probe_page(agent, &name) {
                Some(h) => with_type(h, "text/html; charset=utf-8"),
                None => text(StatusCode::NOT_FOUND, "no such probe\n"),
            }
        }
        "/-/reload" if req.method() == Method::POST => match agent.reload().await {
            Ok(n) => text(StatusCode::OK, format!("reloaded: {n} probes\n")),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload failed, keeping the last good configuration: {e}\n"),
            ),
        },
        "/metrics" | "/probe" | "/healthz" | "/" | "/-/reload" => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `target` of a query string, percent-decoded.
/// `/probe?…&debug=true`: the run as text, like blackbox_exporter's debug output — verdict,
/// findings with evidence, every check.
fn debug_text(snap: &metrics::ProbeSnapshot, findings: &[crate::finding::Finding]) -> String {
    use crate::report::text::printable;
    let mut t = format!(
        "probe {}: {} in {:.3} s\n",
        snap.probe.probe,
        if snap.success { "healthy" } else { "unhealthy" },
        snap.duration_seconds
    );
    for f in findings {
        let _ = writeln!(
            t,
            "\n[{}] {} ({}): {}",
            f.severity.as_str(),
            f.id,
            f.layer.as_str(),
            f.title
        );
        for e in &f.evidence {
            let _ = writeln!(t, "  - {}", printable(e));
        }
        let _ = writeln!(t, "  runbook: /runbooks/{}", f.id);
    }
    t.push_str("\nchecks:\n");
    for c in &snap.checks {
        let l = &c.labels;
        let _ = writeln!(
            t,
            "  {} {} {} {} {}",
            if c.ok { "ok  " } else { "FAIL" },
            l.layer.as_str(),
            l.check,
            printable(&l.endpoint),
            printable(&l.path)
        );
    }
    t
}

/// A percent-decoded path segment.
fn percent_decode(s: &str) -> String {
    target_param(Some(&format!("target={s}"))).unwrap_or_default()
}

fn target_param(query: Option<&str>) -> Option<String> {
    let raw = query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("target="))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Prometheus tells the target how long it will wait; blackbox_exporter's offset is kept free.
const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The scrape's own timeout (`X-Prometheus-Scrape-Timeout-Seconds`) less the offset.
fn scrape_timeout(req: &Request<()>) -> Option<Duration> {
    let secs: f64 = req
        .headers()
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let t = Duration::try_from_secs_f64(secs).ok()?;
    Some(
        t.checked_sub(SCRAPE_TIMEOUT_OFFSET)
            .unwrap_or(t / 2)
            .max(Duration::from_millis(100)),
    )
}

async fn probe(agent: &Arc<Agent>, req: &Request<()>, openmetrics: bool) -> Resp {
    let Some(target) = target_param(req.uri().query()) else {
        return text(StatusCode::BAD_REQUEST, "target parameter is missing\n");
    };
    let Some(p) = agent.shared.probes().get(&target).cloned() else {
        let shown: String = target.chars().take(64).collect();
        return text(
            StatusCode::BAD_REQUEST,
            format!("unknown target {shown:?}: not a configured probe name\n"),
        );
    };
    let shared = &agent.shared;
    // Tracked, so a drain waits for it too; shared by concurrent requests for the target.
    let joined = shared.on_demand.join(shared, p, scrape_timeout(req));
    let Ok(waiter) = joined else {
        let mut r = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many on-demand probe runs at once; retry shortly\n",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    };
    let debug = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "debug=true"));
    match waiter.result().await {
        Some(run) if run.0.host_error.is_some() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this host could not run the probe: {}\n",
                run.0.host_error.as_deref().unwrap_or_default()
            ),
        ),
        Some(run) if debug => text(StatusCode::OK, debug_text(&run.0, &run.1)),
        Some(run) => {
            let snap = Arc::new(run.0.clone());
            let (body, ct) = render(|w, om| metrics::encode_probe(snap, w, om), openmetrics);
            with_type(body, ct)
        }
        None => text(StatusCode::SERVICE_UNAVAILABLE, "probe run cancelled\n"),
    }
}

fn status_page(agent: &Agent) -> String {
    let probes = agent.shared.probes();
    let status = agent.shared.status();
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgw-agent</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}\
         .ok{color:#070}.bad{color:#b00}</style></head><body>\n<h1>pgw-agent</h1>\n",
    );
    let _ = writeln!(
        h,
        "<p>version {} &middot; <a href=\"/metrics\">metrics</a> &middot; \
         <a href=\"/healthz\">healthz</a></p>",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(d) = agent.discovery_status() {
        let last = d.last_success.map_or("none yet".to_string(), |t| {
            let ago = SystemTime::now()
                .duration_since(t)
                .map_or(0, |d| d.as_secs());
            format!("{ago}s ago")
        });
        let error = d
            .last_error
            .map(|e| {
                format!(
                    " &middot; <span class=\"bad\">last refresh failed: {}</span>",
                    esc(&e)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<p>discovery: {} probes in use, {} left out past max_probes &middot; last good refresh {last}{error}</p>",
            d.in_use, d.capped
        );
    }
    h.push_str(
        "<table>\n<tr><th>probe</th><th>API</th><th>interval</th><th>last result</th>\
         <th>duration</th><th>active findings</th></tr>\n",
    );
    for (name, p) in &probes.probes {
        let c = &p.cfg;
        let (result, duration, findings) = match status.get(name) {
            None => (
                "<td>not run yet</td>".to_string(),
                String::new(),
                String::new(),
            ),
            Some(s) => {
                let ago = SystemTime::now()
                    .duration_since(s.finished)
                    .map_or(0, |d| d.as_secs());
                let result = if s.success {
                    format!("<td class=\"ok\">ok ({ago}s ago)</td>")
                } else {
                    format!("<td class=\"bad\">failed ({ago}s ago)</td>")
                };
                let findings = s
                    .findings
                    .iter()
                    .map(|f| {
                        format!(
                            "<a href=\"/runbooks/{}\">{}</a> ({}, {}): {}",
                            f.id,
                            f.id,
                            f.severity.as_str(),
                            f.layer.as_str(),
                            esc(&f.title)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("<br>");
                (
                    result,
                    format!("{:.3}s", s.duration.as_secs_f64()),
                    findings,
                )
            }
        };
        let _ = writeln!(
            h,
            "<tr><td><a href=\"/probes/{n}\">{n}</a></td><td>{} / {}</td><td>{}</td>{result}\
             <td>{duration}</td><td>{findings}</td></tr>",
            esc(&c.api_id),
            esc(c.stage_name()),
            humantime::format_duration(c.interval),
            n = esc(name),
        );
    }
    h.push_str(
        "</table>\n<p><a href=\"/runbooks\">Runbooks</a> of every finding id.</p>\n\
         </body></html>\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::super::load::tests::{probe_toml, temp_dir};
    use super::super::{Agent, Options};
    use super::*;

    async fn agent() -> Arc<Agent> {
        let d = temp_dir();
        std::fs::write(d.join("a.toml"), probe_toml("orders")).unwrap();
        Agent::start(&Options {
            probes: d,
            max_concurrent: 1,
            drain_timeout: std::time::Duration::from_secs(5),
            max_on_demand: 2,
            max_connections: 16,
            web_config: None,
            remote_write: None,
            discovery: None,
        })
        .await
        .unwrap()
    }

    /// A resolver on loopback that counts queries and answers NXDOMAIN after `delay` (never,
    /// when `None`).
    async fn counting_resolver(
        delay: Option<Duration>,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use hickory_proto::op::{Message, ResponseCode};
        let sock = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((len, from)) = sock.recv_from(&mut buf).await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (Some(delay), Ok(q)) = (delay, Message::from_vec(&buf[..len])) else {
                    continue;
                };
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                r.metadata.response_code = ResponseCode::NXDomain;
                for query in &q.queries {
                    r.add_query(query.clone());
                }
                let sock = sock.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sock.send_to(&r.to_vec().unwrap(), from).await;
                });
            }
        });
        (addr, count)
    }

    /// An agent whose probes (named `names`) ask `resolver`, with the given run timeout and
    /// on-demand budget; scheduled once an hour, so only `/probe` runs them.
    async fn agent_with(
        names: &[&str],
        resolver: std::net::SocketAddr,
        timeout: &str,
        max_on_demand: usize,
    ) -> Arc<Agent> {
        let d = temp_dir();
        for name in names {
            let body = format!(
                "name = \"{name}\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
                 resolvers = [\"{resolver}\"]\nno_aws = true\ntimeout = \"{timeout}\"\ninterval = \"1h\"\n"
            );
            std::fs::write(d.join(format!("{name}.toml")), body).unwrap();
        }
        Agent::start(&Options {
            probes: d,
            max_concurrent: 1,
            drain_timeout: Duration::from_secs(5),
            max_on_demand,
            max_connections: 16,
            web_config: None,
            remote_write: None,
            discovery: None,
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn concurrent_probe_requests_for_one_target_share_one_run() {
        let (resolver, queries) = counting_resolver(Some(Duration::from_millis(300))).await;
        let a = agent_with(&["x"], resolver, "5s", 2).await;
        // Scheduled once an hour: only the /probe runs ask now.
        let before = queries.load(std::sync::atomic::Ordering::SeqCst);
        let reqs: Vec<_> = (0..8)
            .map(|_| {
                let a = a.clone();
                tokio::spawn(async move { route(&a, &get("/probe?target=x")).await.status() })
            })
            .collect();
        for r in futures_join(reqs.into_iter()).await {
            assert_eq!(r, StatusCode::OK);
        }
        let after = queries.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(after - before, 1, "one shared run asks the resolver once");
        a.drain().await;
    }

    async fn futures_join<T: Send + 'static>(
        handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn past_the_on_demand_budget_is_503_with_retry_after_and_scheduled_permits_stay() {
        let (resolver, _) = counting_resolver(Some(Duration::from_millis(1500))).await;
        let a = agent_with(&["x", "y"], resolver, "5s", 1).await;
        let first = {
            let a = a.clone();
            tokio::spawn(async move { route(&a, &get("/probe?target=x")).await.status() })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The on-demand run holds none of the scheduled runs' permits.
        assert_eq!(a.shared.limiter.available_permits(), 1);
        let r = route(&a, &get("/probe?target=y")).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(first.await.unwrap(), StatusCode::OK);
        a.drain().await;
    }

    #[tokio::test]
    async fn a_run_whose_clients_all_left_is_cancelled() {
        let (resolver, _) = counting_resolver(None).await;
        let a = agent_with(&["x"], resolver, "30s", 2).await;
        let gone = tokio::time::timeout(
            Duration::from_millis(300),
            route(&a, &get("/probe?target=x")),
        )
        .await;
        assert!(gone.is_err(), "the client gave up first");
        // Cancelled at once, not after the run's 30 s.
        tokio::time::timeout(Duration::from_secs(5), async {
            while a.shared.on_demand.running() > 0 || !a.shared.tracker.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the run was not cancelled");
        a.drain().await;
    }

    /// Every link on the status page, on a probe page and on a runbook answers 200.
    #[tokio::test]
    async fn every_link_on_the_pages_resolves() {
        let a = agent().await;
        let hrefs = |html: &str| -> Vec<String> {
            html.split("href=\"")
                .skip(1)
                .filter_map(|s| s.split('"').next())
                .map(|h| h.replace("&amp;", "&"))
                .collect()
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec!["/".to_string(), "/runbooks".to_string()];
        while let Some(uri) = todo.pop() {
            if !seen.insert(uri.clone()) {
                continue;
            }
            let r = route(&a, &get(&uri)).await;
            assert_eq!(r.status(), StatusCode::OK, "{uri}");
            let is_html = r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html");
            let b = body(r).await;
            if is_html {
                todo.extend(hrefs(&b).into_iter().filter(|h| h.starts_with('/')));
            }
        }
        assert!(seen.contains("/probes/orders"), "{seen:?}");
        assert!(seen.contains("/runbooks/planes_disagree"), "{seen:?}");
        assert!(seen.contains("/probe?target=orders&debug=true"), "{seen:?}");
        a.drain().await;
    }

    #[test]
    fn scrape_timeout_leaves_the_offset() {
        let req = Request::get("/probe?target=x")
            .header("X-Prometheus-Scrape-Timeout-Seconds", "10")
            .body(())
            .unwrap();
        assert_eq!(scrape_timeout(&req), Some(Duration::from_millis(9500)));
        assert_eq!(scrape_timeout(&get("/probe?target=x")), None);
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    async fn body(r: Resp) -> String {
        use http_body_util::BodyExt;
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn unknown_target_is_400_with_one_line() {
        let a = agent().await;
        let r = route(&a, &get("/probe?target=nope")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let b = body(r).await;
        assert_eq!(b.lines().count(), 1, "{b}");
        assert!(b.contains("unknown target \"nope\""), "{b}");
        let r = route(&a, &get("/probe")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        a.drain().await;
    }

    #[tokio::test]
    async fn endpoints() {
        let a = agent().await;
        let r = route(&a, &get("/healthz")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(r).await, "ok\n");

        let r = route(&a, &get("/metrics")).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], TEXT_CONTENT_TYPE);
        assert!(body(r).await.contains("pgw_build_info{version="));
        let req = Request::get("/metrics")
            .header(
                header::ACCEPT,
                "application/openmetrics-text; version=1.0.0",
            )
            .body(())
            .unwrap();
        let r = route(&a, &req).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], OPENMETRICS_CONTENT_TYPE);
        assert!(body(r).await.ends_with("# EOF\n"));

        let page = body(route(&a, &get("/")).await).await;
        assert!(page.contains("orders"), "{page}");
        assert_eq!(
            route(&a, &get("/nope")).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            route(&a, &get("/-/reload")).await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let post = Request::post("/-/reload").body(()).unwrap();
        assert_eq!(route(&a, &post).await.status(), StatusCode::OK);
        a.drain().await;
    }

    #[test]
    fn target_decoding() {
        assert_eq!(target_param(Some("target=a%2Db&x=1")).unwrap(), "a-b");
        assert_eq!(
            target_param(Some("module=x&target=orders")).unwrap(),
            "orders"
        );
        assert_eq!(target_param(Some("target=50%")).unwrap(), "50%");
        assert!(target_param(Some("x=1")).is_none());
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(None));
    }
}
