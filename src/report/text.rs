//! Text rendering of a [`Report`](super::Report): a layer tree with ✔/✘ per resolver, ENI and
//! path, timings, then the findings with evidence, fix and runbook. Colour only on a terminal.

use std::fmt::Write;

use super::{Check, Report};
use crate::finding::{Layer, Severity};

/// Render; `color` adds ANSI colours.
pub fn render(r: &Report, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    render_checks(r, &paint, &mut out);
    render_policy(r, &mut out);
    render_findings(r, &paint, &mut out);
    render_recent(r, &mut out);
    out
}

/// What the policies decide for each probed path, beside what the calls got.
fn render_policy(r: &Report, out: &mut String) {
    let Some(paths) = r.policy_by_path.as_ref().filter(|p| !p.is_empty()) else {
        return;
    };
    let _ = writeln!(out, "\nPolicies, per path (through {}):", paths[0].endpoint);
    for p in paths {
        let endpoint = p
            .endpoint_policy
            .map(|d| format!("  endpoint policy: {d}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}  resource policy: {}{endpoint}  got: {}",
            p.method,
            printable(&p.path),
            p.resource_policy,
            p.answer.as_deref().unwrap_or("no answer")
        );
    }
}

/// `--since`: the stage's logged failures by cause.
fn render_recent(r: &Report, out: &mut String) {
    let Some(recent) = &r.recent_failures else {
        return;
    };
    let _ = writeln!(out, "\nRecent failures in the stage's execution log:");
    if recent.is_empty() {
        let _ = writeln!(out, "   none logged in the window");
    }
    for c in recent {
        let id = c.id.map_or("(no id)", |i| i.as_str());
        let more = if c.at_least { "at least " } else { "" };
        let live = if c.in_diagnosis { ", as now" } else { "" };
        let _ = writeln!(
            out,
            "   {more}{} × {id}{live}  {} .. {}  e.g. {}",
            c.count, c.first_seen, c.last_seen, c.example_request_id
        );
        let _ = writeln!(out, "     \"{}\"", printable(&c.line));
    }
}

/// The header line and the layer tree of checks.
fn render_checks(r: &Report, paint: &impl Fn(&str, &str) -> String, out: &mut String) {
    let _ = writeln!(
        out,
        "pgw-doctor {}  api {}  stage {}  region {}  via {} ({})",
        r.pgw_version,
        r.target.api_id,
        r.target.stage.as_deref().unwrap_or("?"),
        r.target.region,
        r.target.invoke_via,
        printable(&r.target.host)
    );
    for layer in [
        Layer::Dns,
        Layer::Tcp,
        Layer::Tls,
        Layer::Api,
        Layer::ControlPlane,
    ] {
        let checks: Vec<&Check> = r.checks.iter().filter(|c| c.layer == layer).collect();
        if checks.is_empty() {
            continue;
        }
        let ok = checks.iter().all(|c| c.ok);
        let mark = if ok {
            paint("32", "✔")
        } else {
            paint("31", "✘")
        };
        let _ = writeln!(out, "{mark} {}", layer_name(layer));
        for (i, c) in checks.iter().enumerate() {
            let branch = if i + 1 == checks.len() {
                "└─"
            } else {
                "├─"
            };
            let m = if c.ok {
                paint("32", "✔")
            } else {
                paint("31", "✘")
            };
            let time = c
                .duration_seconds
                .map(|d| format!(" {:.1} ms", d * 1000.0))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {branch} {m} {} {}{}  {}",
                printable(&c.name),
                printable(c.endpoint.as_deref().unwrap_or("")),
                time,
                printable(&summarize(c))
            );
        }
    }
}

/// The verdict and every finding with its evidence, fix and runbook.
fn render_findings(r: &Report, paint: &impl Fn(&str, &str) -> String, out: &mut String) {
    let _ = writeln!(out);
    if r.findings.is_empty() {
        let _ = writeln!(
            out,
            "{} healthy: no findings ({:.2} s)",
            paint("32;1", "✔"),
            r.duration_seconds
        );
        return;
    }
    // Healthy with findings: only info notes (the planes disagree), no failure.
    let (mark, what) = if r.verdict == "healthy" {
        (paint("32;1", "✔"), "note")
    } else {
        (paint("31;1", "✘"), "finding")
    };
    let _ = writeln!(
        out,
        "{mark} {} ({} {what}{}, {:.2} s)",
        r.verdict,
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        r.duration_seconds
    );
    let root = r.findings.iter().position(|f| f.is_problem());
    for (i, f) in r.findings.iter().enumerate() {
        let sev = match f.severity {
            Severity::Critical => paint("31;1", "CRITICAL"),
            Severity::Warning => paint("33;1", "WARNING"),
            Severity::Info => paint("36", "INFO"),
        };
        let head = if f.layer == Layer::Exposure && !f.is_problem() {
            "exposure"
        } else if !f.is_problem() {
            "note"
        } else if Some(i) == root {
            "root cause"
        } else {
            "also"
        };
        let _ = writeln!(
            out,
            "\n{}. [{sev}] {} ({head}, {}, {})",
            i + 1,
            f.id,
            f.layer.as_str(),
            f.confidence.as_str()
        );
        let _ = writeln!(out, "   {}", f.title);
        for e in &f.evidence {
            let _ = writeln!(out, "   • {}", printable(e));
        }
        let _ = writeln!(out, "   fix: {}", f.fix);
        let _ = writeln!(
            out,
            "   runbook: {} (pgw-doctor explain {})",
            f.runbook, f.id
        );
        if !f.alternatives.is_empty() {
            let alts: Vec<&str> = f.alternatives.iter().map(|a| a.as_str()).collect();
            let _ = writeln!(out, "   could also be: {}", alts.join(", "));
        }
    }
}

/// `s` with every control character escaped (`\u{1b}`), so that text from the network (an error
/// message, a certificate name, a body) cannot move the cursor, retitle or clear a terminal.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn layer_name(l: Layer) -> &'static str {
    match l {
        Layer::Dns => "DNS",
        Layer::Tcp => "TCP to the execute-api endpoint ENIs",
        Layer::Tls => "TLS",
        Layer::Api => "API Gateway and integration",
        Layer::Integration => "integration",
        Layer::ControlPlane => "AWS control plane",
        Layer::Exposure => "exposure",
    }
}

fn summarize(c: &Check) -> String {
    let d = &c.detail;
    if let Some(s) = d.get("status").and_then(|s| s.as_u64()) {
        let t = d.get("error_type").and_then(|t| t.as_str()).unwrap_or("");
        return if t.is_empty() {
            format!("{s}")
        } else {
            format!("{s} {t}")
        };
    }
    if let Some(a) = d.get("addresses").and_then(|a| a.as_array()) {
        if !a.is_empty() {
            return a
                .iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ");
        }
    }
    if let Some(v) = d.get("version").and_then(|v| v.as_str()) {
        return v.to_string();
    }
    d.get("outcome")
        .or_else(|| d.get("reason"))
        .and_then(|o| o.as_str())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_network_cannot_drive_the_terminal() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(
            printable("x\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "x\\u{1b}]0;owned\\u{7}\\u{1b}[2J"
        );
    }

    #[test]
    fn a_report_escapes_evidence_and_check_details() {
        use crate::diagnose::testutil;
        let mut f = testutil::healthy();
        testutil::set_all(
            &mut f,
            testutil::gateway(403, "ForbiddenException", "\u{1b}]0;pwned\u{7}\u{1b}[2J"),
        );
        let findings = crate::diagnose::diagnose(&f);
        let r = crate::report::Report::new(&f, findings);
        let text = render(&r, false);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(!text.contains('\u{7}'), "{text}");
        assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
        // JSON stays exact.
        assert!(crate::report::json::render(&r).contains("\\u001b]0;pwned"));
    }
}
