//! The secure zone: finding artifacts on disk, reading them without executing anything,
//! and hashing them.

pub mod digest;
pub mod filter;
mod guard;
pub mod keep;
pub mod mmap;
pub mod sibling;
pub mod spill;
pub mod walk;
