//! AWS control plane: read the chain (API Gateway, EC2, ELBv2) into [`model::ControlFacts`].
//! Reads go through the [`Inventory`] trait; [`sdk`] implements it with the AWS SDK.

pub mod model;
