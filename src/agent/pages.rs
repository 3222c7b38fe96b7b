//! The agent's pages for a person: the runbooks (`/runbooks/<id>`, compiled in, rendered from
//! their Markdown) and one page per probe (`/probes/<name>`: the last run's findings with their
//! evidence and every check), so the status page leads somewhere.

use std::fmt::Write as _;

use super::Agent;
use crate::finding::{parse_id, CATALOG};

/// HTML-escaped, control characters shown escaped.
pub fn esc(s: &str) -> String {
    crate::report::text::printable(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:72em;margin:1em auto;padding:0 1em}}\
         td,th{{padding:2px 8px;text-align:left;vertical-align:top}}.ok{{color:#070}}.bad{{color:#b00}}\
         pre{{background:#f4f4f4;padding:.5em;overflow-x:auto}}code{{background:#f4f4f4}}</style>\
         </head><body>\n<p><a href=\"/\">pgw-agent</a> &middot; <a href=\"/runbooks\">runbooks</a> &middot; \
         <a href=\"/metrics\">metrics</a></p>\n{body}</body></html>\n",
        esc(title)
    )
}

/// `` `code` `` and `**bold**` inside one line of Markdown (already escaped).
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<b>{p}</b>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

/// The Markdown the runbooks use, as HTML: headings, lists, code blocks, tables, paragraphs.
pub fn markdown(md: &str) -> String {
    let mut out = String::new();
    let (mut code, mut list, mut table) = (false, false, false);
    for line in md.lines() {
        if line.starts_with("```") {
            out.push_str(if code { "</pre>\n" } else { "<pre>" });
            code = !code;
            continue;
        }
        if code {
            let _ = writeln!(out, "{}", esc(line));
            continue;
        }
        let t = line.trim_start();
        if list && !(t.starts_with("- ") || line.starts_with("  ")) {
            out.push_str("</ul>\n");
            list = false;
        }
        if table && !t.starts_with('|') {
            out.push_str("</table>\n");
            table = false;
        }
        if let Some(h) = t.strip_prefix("### ") {
            let _ = writeln!(out, "<h3>{}</h3>", inline(&esc(h)));
        } else if let Some(h) = t.strip_prefix("## ") {
            let _ = writeln!(out, "<h2>{}</h2>", inline(&esc(h)));
        } else if let Some(h) = t.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", inline(&esc(h)));
        } else if let Some(item) = t.strip_prefix("- ") {
            if !list {
                out.push_str("<ul>\n");
                list = true;
            }
            let _ = writeln!(out, "<li>{}", inline(&esc(item)));
        } else if t.starts_with('|') {
            if t.trim_matches(|c| c == '|' || c == '-' || c == ' ')
                .is_empty()
            {
                continue;
            }
            if !table {
                out.push_str("<table>\n");
                table = true;
            }
            let cells: Vec<String> = t
                .trim_matches('|')
                .split('|')
                .map(|c| format!("<td>{}</td>", inline(&esc(c.trim()))))
                .collect();
            let _ = writeln!(out, "<tr>{}</tr>", cells.concat());
        } else if t.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "<p>{}</p>", inline(&esc(t)));
        }
    }
    if list {
        out.push_str("</ul>\n");
    }
    if table {
        out.push_str("</table>\n");
    }
    out
}

/// `/runbooks`: every id with its title.
pub fn runbook_index() -> String {
    let mut body = String::from("<h1>Runbooks</h1>\n<table>\n");
    for e in CATALOG {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"/runbooks/{id}\">{id}</a></td><td>{}</td><td>{}</td></tr>",
            e.severity.as_str(),
            esc(e.title),
            id = e.id
        );
    }
    body.push_str("</table>\n");
    page("pgw runbooks", &body)
}

/// `/runbooks/<id>`, or `None` for an unknown id.
pub fn runbook(id: &str) -> Option<String> {
    let f = parse_id(id)?;
    Some(page(id, &markdown(crate::finding::entry(f).runbook)))
}

/// `/probes/<name>`: the last run of a probe as the doctor would show it, or `None` for an
/// unknown probe.
pub fn probe_page(agent: &Agent, name: &str) -> Option<String> {
    let probes = agent.shared.probes();
    let p = probes.get(name)?;
    let c = &p.cfg;
    let mut body = format!(
        "<h1>{}</h1>\n<p>API <code>{}</code> stage <code>{}</code> ({}) via {} every {} &middot; \
         <a href=\"/probe?target={n}&amp;debug=true\">run it now (text)</a></p>\n",
        esc(name),
        esc(&c.api_id),
        esc(c.stage_name()),
        esc(&c.region),
        c.invoke_via,
        humantime::format_duration(c.interval),
        n = esc(name)
    );
    let status = agent.shared.status();
    let Some(s) = status.get(name) else {
        body.push_str("<p>Not run yet.</p>\n");
        return Some(page(name, &body));
    };
    let ago = std::time::SystemTime::now()
        .duration_since(s.finished)
        .map_or(0, |d| d.as_secs());
    let _ = writeln!(
        body,
        "<p class=\"{}\">last run {ago} s ago, {:.3} s: {}</p>",
        if s.success { "ok" } else { "bad" },
        s.duration.as_secs_f64(),
        if s.success {
            "the chain works"
        } else {
            "findings"
        }
    );
    for (i, f) in s.findings.iter().enumerate() {
        let _ = writeln!(
            body,
            "<h3>{}. {} <a href=\"/runbooks/{id}\">{id}</a> ({}, {})</h3>\n<p>{}</p>\n<ul>",
            i + 1,
            f.severity.as_str().to_uppercase(),
            f.layer.as_str(),
            if i == 0 { "root cause" } else { "also" },
            esc(&f.title),
            id = f.id
        );
        for e in &f.evidence {
            let _ = writeln!(body, "<li>{}</li>", esc(e));
        }
        body.push_str("</ul>\n");
    }
    if let Some(snap) = agent.shared.metrics.last_run(name) {
        body.push_str(
            "<h2>Checks</h2>\n<table>\n<tr><th>layer</th><th>check</th><th>endpoint</th>\
             <th>path</th><th></th><th>phases (ms)</th></tr>\n",
        );
        for c in &snap.checks {
            let l = &c.labels;
            let phases: Vec<String> = snap
                .phases_of(c)
                .iter()
                .map(|(p, s)| format!("{} {:.1}", p.as_str(), s * 1000.0))
                .collect();
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                l.layer.as_str(),
                esc(l.check),
                esc(&l.endpoint),
                esc(&l.path),
                if c.ok { "ok" } else { "bad" },
                if c.ok { "✔" } else { "✘" },
                phases.join(", ")
            );
        }
        body.push_str("</table>\n");
    }
    Some(page(name, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_markdown_becomes_html() {
        let h = markdown("# t: x\n\nSome `code` and **bold**.\n- a\n- b\n\n```sh\necho <x>\n```\n| a | b |\n| --- | --- |\n| 1 | 2 |\n");
        assert!(h.contains("<h1>t: x</h1>"), "{h}");
        assert!(
            h.contains("<code>code</code>") && h.contains("<b>bold</b>"),
            "{h}"
        );
        assert!(h.contains("<ul>\n<li>a\n<li>b\n</ul>"), "{h}");
        assert!(h.contains("<pre>echo &lt;x&gt;\n</pre>"), "{h}");
        assert!(h.contains("<tr><td>1</td><td>2</td></tr>"), "{h}");
        assert!(runbook("missing_root_any_method")
            .unwrap()
            .contains("<h1>missing_root_any_method"));
        assert!(runbook("nope").is_none());
    }
}
