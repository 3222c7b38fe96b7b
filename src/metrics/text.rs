//! The text exposition of the per-probe families, written by hand. At 10 000 targets they are
//! 150 000 lines: prometheus_client encodes every label of every line through a chain of dynamic
//! writers (about 50 ms a scrape); this builds a series' label block once and copies it into
//! each of its lines (a histogram's 17, a check's phases). The output is byte for byte
//! prometheus_client's, in OpenMetrics 1.0.0 and Prometheus text 0.0.4: tests in `metrics`
//! encode the same data both ways and compare.

use std::fmt::{Result, Write};

/// A family's type, as the exposition names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

/// A sample's value.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Int(i64),
    Float(f64),
}

/// Writes families to `w`, one whole line per `write_str`.
pub struct Text<'w> {
    w: &'w mut dyn Write,
    openmetrics: bool,
    /// The family being written: its sample name before any suffix (`pgw_check_duration_seconds`).
    name: String,
    kind: Kind,
    /// The label block of the series being written, without braces: `probe="a",phase="tls"`.
    labels: String,
    line: String,
    itoa: itoa::Buffer,
    dtoa: dtoa::Buffer,
}

impl<'w> Text<'w> {
    pub fn new(w: &'w mut dyn Write, openmetrics: bool) -> Text<'w> {
        Text {
            w,
            openmetrics,
            name: String::new(),
            kind: Kind::Gauge,
            labels: String::new(),
            line: String::with_capacity(256),
            itoa: itoa::Buffer::new(),
            dtoa: dtoa::Buffer::new(),
        }
    }

    pub fn openmetrics(&self) -> bool {
        self.openmetrics
    }

    /// Start family `name` (registered name: no unit, no `_total`): its `# HELP`, `# TYPE` and,
    /// in OpenMetrics, `# UNIT` lines. `help` holds no backslash or line end (Prometheus text
    /// would escape them, OpenMetrics not).
    pub fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: Kind) -> Result {
        debug_assert!(!help.contains(['\\', '\n']), "{help}");
        self.name.clear();
        self.name.push_str(name);
        if let Some(unit) = unit {
            self.name.push('_');
            self.name.push_str(unit);
        }
        self.kind = kind;
        // Prometheus text names a counter's family by its sample name; OpenMetrics does not.
        let total = if kind == Kind::Counter && !self.openmetrics {
            "_total"
        } else {
            ""
        };
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        };
        self.line.clear();
        for (what, text) in [("# HELP ", help), ("# TYPE ", kind)] {
            self.line.push_str(what);
            self.line.push_str(&self.name);
            self.line.push_str(total);
            self.line.push(' ');
            self.line.push_str(text);
            self.line.push('\n');
        }
        if let (true, Some(unit)) = (self.openmetrics, unit) {
            self.line.push_str("# UNIT ");
            self.line.push_str(&self.name);
            self.line.push(' ');
            self.line.push_str(unit);
            self.line.push('\n');
        }
        self.w.write_str(&self.line)
    }

    /// Set the label block of the next samples.
    pub fn labels(&mut self, labels: &[(&str, &str)]) {
        self.labels.clear();
        for (key, value) in labels {
            self.push_label(key, value);
        }
    }

    fn push_label(&mut self, key: &str, value: &str) {
        if !self.labels.is_empty() {
            self.labels.push(',');
        }
        self.labels.push_str(key);
        self.labels.push_str("=\"");
        escape_into(&mut self.labels, value);
        self.labels.push('"');
    }

    /// One sample of the family with the current labels, plus `extra` (a key and a value that
    /// needs no escaping) when given.
    pub fn sample(&mut self, extra: Option<(&str, &str)>, value: Value) -> Result {
        let suffix = if self.kind == Kind::Counter {
            "_total"
        } else {
            ""
        };
        self.start(suffix, extra);
        self.line.push(' ');
        self.push_value(value);
        self.finish()
    }

    /// One histogram series with the current labels: `buckets` are the per-bucket counts (not
    /// cumulative) of `bounds`, whose last is `+Inf`; `le` their label values.
    pub fn histogram(&mut self, le: &Bounds, buckets: &[u64], sum: f64, count: u64) -> Result {
        if self.openmetrics {
            self.histogram_total(sum, count)?;
        }
        let mut cumulative = 0;
        for (le, n) in le.text.iter().zip(buckets) {
            cumulative += n;
            self.start("_bucket", Some(("le", le)));
            self.line.push(' ');
            self.line.push_str(self.itoa.format(cumulative));
            self.finish()?;
        }
        if !self.openmetrics {
            self.histogram_total(sum, count)?;
        }
        Ok(())
    }

    fn histogram_total(&mut self, sum: f64, count: u64) -> Result {
        self.start("_sum", None);
        self.line.push(' ');
        self.push_value(Value::Float(sum));
        self.finish()?;
        self.start("_count", None);
        self.line.push(' ');
        self.line.push_str(self.itoa.format(count));
        self.finish()
    }

    /// Start a line: name, suffix and labels. `extra` goes after the series' labels, except a
    /// histogram's `le` in OpenMetrics, which prometheus_client writes first.
    fn start(&mut self, suffix: &str, extra: Option<(&str, &str)>) {
        self.line.clear();
        self.line.push_str(&self.name);
        self.line.push_str(suffix);
        if self.labels.is_empty() && extra.is_none() {
            return;
        }
        self.line.push('{');
        let first = self.openmetrics && self.kind == Kind::Histogram;
        if !first {
            self.line.push_str(&self.labels);
        }
        if let Some((key, value)) = extra {
            if !first && !self.labels.is_empty() {
                self.line.push(',');
            }
            self.line.push_str(key);
            self.line.push_str("=\"");
            self.line.push_str(value);
            self.line.push('"');
            if first && !self.labels.is_empty() {
                self.line.push(',');
            }
        }
        if first {
            self.line.push_str(&self.labels);
        }
        self.line.push('}');
    }

    fn push_value(&mut self, value: Value) {
        match value {
            Value::Int(v) => self.line.push_str(self.itoa.format(v)),
            // OpenMetrics writes what dtoa writes ("NaN", "inf"); Prometheus text writes
            // non-finite values as Go does.
            Value::Float(v) if v.is_finite() || self.openmetrics => {
                self.line.push_str(self.dtoa.format(v))
            }
            Value::Float(v) if v.is_nan() => self.line.push_str("NaN"),
            Value::Float(v) if v > 0.0 => self.line.push_str("+Inf"),
            Value::Float(_) => self.line.push_str("-Inf"),
        }
    }

    /// OpenMetrics' last line.
    pub fn eof(&mut self) -> Result {
        self.w.write_str("# EOF\n")
    }

    fn finish(&mut self) -> Result {
        self.line.push('\n');
        self.w.write_str(&self.line)
    }
}

/// Histogram bucket bounds and their `le` label values in one format.
pub struct Bounds {
    text: Vec<String>,
}

impl Bounds {
    /// `bounds` (finite, ascending, each whole or within 1e-4..1e6 — Go's `%g` then prints what
    /// Rust's `Display` does) and `+Inf` after them.
    pub fn new(bounds: &[f64], openmetrics: bool) -> Bounds {
        let mut text: Vec<String> = bounds
            .iter()
            .map(|&b| {
                debug_assert!(b.fract() == 0.0 || (1e-4..1e6).contains(&b.abs()), "{b}");
                if openmetrics {
                    dtoa::Buffer::new().format(b).to_string()
                } else {
                    b.to_string()
                }
            })
            .collect();
        text.push("+Inf".to_string());
        Bounds { text }
    }
}

/// Append `value` as a label value: backslash, double quote and line feed escaped.
fn escape_into(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
