//! Leaf analysers, one module per format.

pub mod numpy;
pub mod pickle;
