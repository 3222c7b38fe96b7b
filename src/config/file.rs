//! Probe files (`probes/*.toml`) as written: parsed with every value's position, so that an error
//! names `file:line:column`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, InvalidValue, InvokeVia};

/// A probe file as written (`probes/*.toml`). Unknown keys are rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    pub name: Option<Spanned<String>>,
    pub api_id: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub stage: Option<Spanned<String>>,
    pub paths: Option<Spanned<Vec<String>>>,
    pub large_path: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub invoke_via: Option<Spanned<InvokeVia>>,
    pub vpce_id: Option<Spanned<String>>,
    pub vpce_dns: Option<Spanned<String>>,
    pub domain_name: Option<Spanned<String>>,
    pub domain_name_id: Option<Spanned<String>>,
    pub base_path: Option<Spanned<String>>,
    pub resolvers: Option<Spanned<Vec<String>>>,
    pub port: Option<Spanned<u16>>,
    pub ca_file: Option<Spanned<String>>,
    pub tls_versions: Option<Spanned<Vec<String>>>,
    pub sigv4: Option<bool>,
    pub check_public: Option<bool>,
    pub public_resolver: Option<Spanned<String>>,
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
    toml::from_str::<ProbeFile>(src).map_err(|e| toml_error(path, src, &e))
}

/// A TOML error in `src` (read from `path`) as one line naming `file:line:column` when TOML says
/// where: the probe files' and the agent's other TOML files' (remote write, discovery).
pub fn toml_error(path: &Path, src: &str, e: &toml::de::Error) -> ConfigError {
    let location = match e.span() {
        Some(span) => file_position(path, src, span.start),
        None => path.display().to_string(),
    };
    ConfigError {
        location,
        message: e.message().trim().replace('\n', " "),
    }
}

/// Probe files larger than this are refused (a probe file is a few hundred bytes).
pub const MAX_PROBE_FILE: u64 = 1024 * 1024;

/// Read at most `cap` bytes of the regular file at `path`: anything else (a FIFO that would block,
/// a device that never ends, a dangling symlink) or anything larger is an error, and nothing blocks.
pub fn read_bounded(path: &Path, cap: u64) -> Result<Vec<u8>, InvalidValue> {
    let invalid = |m: String| InvalidValue(m);
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| invalid(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    if meta.len() > cap {
        return Err(invalid(format!(
            "{} bytes, more than the {cap} allowed",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| invalid(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(invalid(format!("more than the {cap} bytes allowed")));
    }
    Ok(bytes)
}

/// Read and parse a probe file: a regular file of at most [`MAX_PROBE_FILE`] bytes of UTF-8.
/// A probe made from probe-file text that no file holds (discovery builds its probes so, through
/// the same validation as a file); `origin` names it in errors.
pub fn probe_from_text(origin: &Path, src: &str) -> Result<super::Config, ConfigError> {
    let file = parse_probe_file(origin, src)?;
    super::build(
        Some((origin, src, &file)),
        &super::Overrides::default(),
        super::env_region(),
    )
}

pub fn read_probe_file(path: &Path) -> Result<(ProbeFile, String), ConfigError> {
    let bytes = read_bounded(path, MAX_PROBE_FILE).map_err(|m| ConfigError {
        location: path.display().to_string(),
        message: format!("probe file: {m}"),
    })?;
    let src = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        ConfigError {
            location: file_position(path, &text, valid),
            message: "not UTF-8".into(),
        }
    })?;
    let file = parse_probe_file(path, &src)?;
    Ok((file, src))
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text, TOML-like or not: parsing and building never panic, and every error is one
        /// line that names the file (with line:column inside the text when it has a position).
        #[test]
        fn any_probe_file_text_is_a_config_or_one_line_naming_the_file(
            lines in proptest::collection::vec(
                prop_oneof![
                    "[a-z_]{1,20} = \"[ -~]{0,30}\"",
                    "[a-z_]{1,20} = [0-9]{1,6}",
                    "[a-z_]{1,20} = \\[\"[ -~]{0,10}\"\\]",
                    "\\[[a-z]{1,8}\\]",
                    "[ -~]{0,40}",
                    "(api_id|region|stage|timeout|port|paths|resolvers|invoke_via|name) = \"[ -~]{0,20}\"",
                ],
                0..12,
            )
        ) {
            let text = lines.join("\n");
            let path = Path::new("p.toml");
            let outcome = parse_probe_file(path, &text).and_then(|pf| {
                super::super::build(Some((path, &text, &pf)), &super::super::Overrides::default(), None)
            });
            if let Err(e) = outcome {
                let e = e.to_string();
                prop_assert!(!e.contains('\n'), "{}", e);
                prop_assert!(e.starts_with("p.toml"), "{}", e);
                if let Some(pos) = e.strip_prefix("p.toml:").filter(|p| p.starts_with(|c: char| c.is_ascii_digit())) {
                    let line: usize = pos.split(':').next().unwrap().parse().unwrap();
                    prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{}", e);
                }
            }
        }
    }
}
