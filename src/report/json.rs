//! JSON rendering of a [`Report`](super::Report): one object, per `docs/doctor-report.schema.json`.

use super::Report;

/// The report as pretty JSON.
pub fn render(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("a report always serializes")
}
