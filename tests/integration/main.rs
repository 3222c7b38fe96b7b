//! pgw's one integration-test binary: the doctor against every lab scenario, the CLI's bad-input
//! contract, and the docs (schema, runbooks) against the code.

mod agent;
mod alerts;
mod cli;
mod dashboard;
mod discovery;
mod docs;
mod prometheus;
mod promkit;
mod remote_write;
mod scenarios;
mod scripts;
mod support;
mod web;
