//! pgw-lab: a loopback replica of an API Gateway private REST API topology with injectable faults.
mod addr;
mod dns;
mod error;
mod ids;
mod pki;
mod runtime;
mod scenario;
mod slot;
pub use error::LabError;
pub use scenario::*;
