//! Probe files (`probes/*.toml`) as written: parsed with every value's position, so that an error
//! names `file:line:column`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, InvokeVia};

/// A probe file as written (`probes/*.toml`). Unknown keys are rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    pub name: Option<Spanned<String>>,
    pub api_id: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub stage: Option<Spanned<String>>,
    pub paths: Option<Spanned<Vec<String>>>,
    pub method: Option<Spanned<String>>,
    pub invoke_via: Option<Spanned<InvokeVia>>,
    pub vpce_id: Option<Spanned<String>>,
    pub vpce_dns: Option<Spanned<String>>,
    pub resolvers: Option<Spanned<Vec<String>>>,
    pub port: Option<Spanned<u16>>,
    pub ca_file: Option<Spanned<String>>,
    pub sigv4: Option<bool>,
    pub no_aws: Option<bool>,
    pub aws_endpoint_url: Option<Spanned<String>>,
    pub roles: Option<Spanned<BTreeMap<String, String>>>,
    pub timeout: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub control_plane_interval: Option<Spanned<String>>,
}

/// `file:line:column` (1-based) of a byte offset.
pub fn file_position(path: &Path, src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let before = &src[..src.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", path.display())
}

/// Parse a probe file's text. Syntax errors and unknown keys name `file:line:column`.
pub fn parse_probe_file(path: &Path, src: &str) -> Result<ProbeFile, ConfigError> {
    toml::from_str::<ProbeFile>(src).map_err(|e| {
        let location = match e.span() {
            Some(span) => file_position(path, src, span.start),
            None => path.display().to_string(),
        };
        ConfigError {
            location,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// Read and parse a probe file.
pub fn read_probe_file(path: &Path) -> Result<(ProbeFile, String), ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        location: path.display().to_string(),
        message: format!("cannot read probe file: {e}"),
    })?;
    let file = parse_probe_file(path, &src)?;
    Ok((file, src))
}
