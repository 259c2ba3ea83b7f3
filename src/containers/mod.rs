//! Container analysers: they unpack members within the zone's limits and hand each one back to
//! detection through [`crate::scan::context::Ctx::nested`].

pub(crate) mod codec;
pub mod compress;
pub(crate) mod members;
pub mod sevenz;
pub mod tar;
pub mod zip;
