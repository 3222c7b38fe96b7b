//! Markdown rendering of a [`Report`]: one section to paste into a ticket or an AWS Support case —
//! target, verdict, findings with evidence and fix, the request ids of the invokes that failed,
//! the time (UTC), and every check as a table.

use std::fmt::Write;

use super::{Check, Report};
use crate::checks::CheckKind;
use crate::finding::Layer;

/// Text from the network, safe in Markdown: control characters escaped, no table breaks, no
/// code-span breaks.
fn md(s: &str) -> String {
    super::text::printable(s)
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('\n', " ")
}

/// Render `r` as Markdown.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let t = &r.target;
    let stage = t.stage.as_deref().unwrap_or("?");
    let _ = writeln!(
        out,
        "## pgw-doctor: API `{}` stage `{stage}` ({}): **{}**\n",
        md(&t.api_id),
        md(&t.region),
        r.verdict
    );
    // A custom domain maps a base path (in the checks' paths) to the stage, not `/{stage}`.
    let prefix = if t.invoke_via == "custom-domain" {
        String::new()
    } else {
        format!("/{stage}")
    };
    let _ = writeln!(
        out,
        "- Invoked: `https://{}{prefix}/…` via `{}`",
        md(&t.host),
        t.invoke_via
    );
    let _ = writeln!(
        out,
        "- When: {} UTC, {:.2} s, pgw {}\n",
        humantime::format_rfc3339_seconds(r.finished)
            .to_string()
            .trim_end_matches('Z')
            .replace('T', " "),
        r.duration_seconds,
        r.pgw_version
    );
    findings(r, &mut out);
    failed_invokes(r, &mut out);
    recent_failures(r, &mut out);
    checks(r, &mut out);
    out
}

/// `--since`: the stage's logged failures by cause, one row each.
fn recent_failures(r: &Report, out: &mut String) {
    let Some(recent) = &r.recent_failures else {
        return;
    };
    let _ = writeln!(
        out,
        "### Recent failures in the stage's execution log
"
    );
    if recent.is_empty() {
        let _ = writeln!(
            out,
            "None logged in the window.
"
        );
        return;
    }
    let _ = writeln!(
        out,
        "| count | cause | first | last | example request id | line |\n| --- | --- | --- | --- | --- | --- |"
    );
    for c in recent {
        let _ = writeln!(
            out,
            "| {}{} | {}{} | {} | {} | `{}` | {} |",
            if c.at_least { "≥ " } else { "" },
            c.count,
            c.id.map_or("—", |i| i.as_str()),
            if c.in_diagnosis { " (as now)" } else { "" },
            c.first_seen,
            c.last_seen,
            md(&c.example_request_id),
            md(&c.line)
        );
    }
    let _ = writeln!(out);
}

fn findings(r: &Report, out: &mut String) {
    if r.findings.is_empty() {
        let _ = writeln!(out, "No findings: the chain works end to end.\n");
        return;
    }
    let _ = writeln!(out, "### Findings (the first is the root cause)\n");
    for (i, f) in r.findings.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. **{} `{}`** ({}, {}): {}",
            i + 1,
            f.severity.as_str().to_uppercase(),
            f.id,
            f.layer.as_str(),
            f.confidence.as_str(),
            f.title
        );
        for e in &f.evidence {
            let _ = writeln!(out, "   - {}", md(e));
        }
        let _ = writeln!(out, "   - Fix: {}", f.fix);
        let _ = writeln!(
            out,
            "   - Runbook: `{}` (`pgw-doctor explain {}`)",
            f.runbook, f.id
        );
    }
    let _ = writeln!(out);
}

/// The invokes that did not pass, with API Gateway's request id: what AWS Support asks for.
fn failed_invokes(r: &Report, out: &mut String) {
    let failed: Vec<&Check> = r
        .checks
        .iter()
        .filter(|c| c.layer == Layer::Api && !c.ok)
        .filter(|c| {
            matches!(
                c.kind,
                CheckKind::Invoke | CheckKind::InvokeSignedRetry | CheckKind::InvokeApiIdHeader
            )
        })
        .collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Failed invokes\n");
    let _ = writeln!(out, "| request | via | answer | x-amzn-RequestId |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for c in failed {
        let d = &c.detail;
        let answer = match d.get("status").and_then(|s| s.as_u64()) {
            Some(s) => format!(
                "{s} {} {}",
                d["error_type"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            ),
            None => d["outcome"].as_str().unwrap_or("").to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            md(&c.name),
            md(c.endpoint.as_deref().unwrap_or("")),
            md(answer.trim()),
            md(d["request_id"].as_str().unwrap_or("—"))
        );
    }
    let _ = writeln!(out);
}

fn checks(r: &Report, out: &mut String) {
    let _ = writeln!(out, "### Checks\n");
    let _ = writeln!(out, "| layer | check | endpoint | ok | ms |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for c in &r.checks {
        let ms = c
            .duration_seconds
            .map(|d| format!("{:.1}", d * 1000.0))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {ms} |",
            c.layer.as_str(),
            md(&c.name),
            md(c.endpoint.as_deref().unwrap_or("")),
            if c.ok { "✔" } else { "✘" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testutil;

    #[test]
    fn a_broken_chain_as_markdown() {
        let mut f = testutil::healthy();
        let mut answer = testutil::gateway(
            403,
            "MissingAuthenticationTokenException",
            "Missing | Authentication `Token`",
        );
        if let crate::facts::HttpOutcome::Response(r) = &mut answer {
            r.request_id = Some("4f1c2d3e-aaaa-bbbb-cccc-0123456789ab".into());
        }
        testutil::set_path(&mut f, "/", answer);
        let findings = crate::diagnose::diagnose(&f);
        let report = Report::new(&f, findings);
        let m = render(&report);
        assert!(
            m.starts_with(
                "## pgw-doctor: API `3eqr0osoc3` stage `test` (us-east-1): **unhealthy**"
            ),
            "{m}"
        );
        assert!(
            m.contains("1. **CRITICAL `missing_root_any_method`**"),
            "{m}"
        );
        assert!(
            m.contains("`pgw-doctor explain missing_root_any_method`"),
            "{m}"
        );
        assert!(m.contains("### Failed invokes"), "{m}");
        assert!(m.contains("4f1c2d3e-aaaa-bbbb-cccc-0123456789ab"), "{m}");
        // Text from the network cannot break the table.
        assert!(m.contains("Missing \\| Authentication 'Token'"), "{m}");
        assert!(
            m.contains("| dns | resolve 3eqr0osoc3.execute-api.us-east-1.amazonaws.com |"),
            "{m}"
        );
        assert!(m.contains(" UTC, "), "{m}");
    }

    #[test]
    fn recent_failures_are_a_table_and_a_custom_domain_is_not_under_the_stage() {
        use crate::finding::{FindingId, RecentFailure};
        let mut f = testutil::healthy();
        f.target.invoke_via = crate::facts::InvokeVia::CustomDomain;
        f.target.connect_name = "orders.internal.example.com".into();
        let mut report = Report::new(&f, Vec::new());
        report.recent_failures = Some(vec![RecentFailure {
            id: Some(FindingId::IntegrationNetworkError),
            line: "Execution failed due to a network error | communicating with endpoint".into(),
            count: 40,
            first_seen: "2026-11-27T15:17:58Z".into(),
            last_seen: "2026-11-27T16:06:43Z".into(),
            example_request_id: "00000005-0000".into(),
            in_diagnosis: false,
            at_least: true,
        }]);
        let m = render(&report);
        assert!(
            m.contains("- Invoked: `https://orders.internal.example.com/…` via `custom-domain`"),
            "{m}"
        );
        assert!(
            m.contains("### Recent failures in the stage's execution log"),
            "{m}"
        );
        assert!(
            m.contains("| ≥ 40 | integration_network_error | 2026-11-27T15:17:58Z | 2026-11-27T16:06:43Z | `00000005-0000` | Execution failed due to a network error \\| communicating with endpoint |"),
            "{m}"
        );
    }

    #[test]
    fn a_healthy_chain_has_no_failed_invokes_section() {
        let f = testutil::healthy();
        let m = render(&Report::new(&f, Vec::new()));
        assert!(m.contains("**healthy**"), "{m}");
        assert!(m.contains("No findings"), "{m}");
        assert!(!m.contains("Failed invokes"), "{m}");
    }
}
