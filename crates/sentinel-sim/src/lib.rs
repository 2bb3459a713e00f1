//! Synthetic cities for Sentinel. For now: the demo Suzhou, with its real districts (GB/T 2260 codes)
//! and street names, generated communities and grids, a few hundred venues of every category and a few
//! thousand residents with valid ID numbers. Deterministic by seed. A city of visits with Zipf-like venue
//! popularity for trace benchmarks. And a load generator that drives simulated
//! gate devices against a running server.

pub mod demo;
pub mod gate_connection;
pub mod load;
pub mod mobility;
pub mod names;
pub mod suzhou;
pub mod zipf_city;

pub use demo::{DemoCity, DemoOptions};
