//! pgw: tells why a call to an API Gateway private REST API fails, layer by layer.
//!
//! Data flows one way: [`config`] → [`probe`] and [`aws`] produce [`facts`] → [`diagnose`]
//! produces [`finding`]s → [`report`] or [`metrics`]. [`run`] is one pass of that line, which the
//! [`doctor`] and the [`agent`] share. See docs/architecture.md.

pub mod agent;
pub mod aws;
pub mod checks;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod doctor;
pub mod facts;
pub mod finding;
pub mod metrics;
pub mod probe;
pub mod progress;
pub mod report;
pub mod run;
