//! quarantine: a static scanner for machine-learning model artifacts.
//!
//! Nothing here executes, imports or deserialises an artifact for real. Bytes are detected by
//! content ([`detect`]), containers are unpacked in memory within the limits of the secure zone,
//! and each format has an analyser that reports [`Finding`]s with a stable rule id through the
//! analysis context ([`scan::context::Ctx`]). The verdict of an artifact is the worst verdict its
//! findings imply ([`ArtifactReport::decide`]). `ARCHITECTURE.md` maps the layers.
//!
//! Many artifacts are scanned by [`batch::Batch`] over a [`batch::Plan`] (the walk, optionally
//! one shard of it), in parallel, each result handed to one [`report::Sink`] as it completes.
#![deny(unsafe_code)] // The one exception, memory-mapping, is in `zone::mmap`.

pub mod batch;
pub mod bytes;
pub mod config;
pub mod containers;
pub mod detect;
pub mod formats;
pub mod hub;
pub mod model;
pub mod policy;
pub mod probe;
pub mod provenance;
pub mod report;
pub mod scan;
pub mod settings;
pub mod signatures;
#[cfg(test)]
mod testing;
pub mod zone;

pub use config::Config;
pub use model::{ArtifactReport, Finding, Format, RuleId, RuleRef, Severity, Verdict};
pub use signatures::Signatures;
