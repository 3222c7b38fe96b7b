//! Errors of the lab library: loading scenario files and starting a lab.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while loading a scenario or starting a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A scenario file is not valid TOML or has an invalid value; the location is 1-based.
    #[error("{path}:{line}:{column}: {message}")]
    Scenario {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// `Scenario::find` found no file for a scenario name.
    #[error("no scenario {name:?} in {dir} (try `pgw-lab list`)")]
    UnknownScenario { name: String, dir: PathBuf },
    /// A scenario built in code is inconsistent (same checks as `Scenario::load`).
    #[error("invalid scenario: {0}")]
    Invalid(String),
    /// A listener could not be created.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// No free 127.A.B.0/24 block could be reserved.
    #[error("no free loopback address block found after {0} attempts")]
    NoFreeBlock(usize),
    /// Certificate or TLS configuration failure.
    #[error("lab PKI: {0}")]
    Pki(String),
    /// The AWS control plane (moto server) could not be started or seeded.
    #[error("lab control plane: {0}")]
    ControlPlane(String),
}
