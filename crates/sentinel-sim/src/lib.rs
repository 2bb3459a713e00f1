//! Synthetic cities for Sentinel. For now: the demo Suzhou, with its real districts (GB/T 2260 codes)
//! and street names, generated communities and grids, a few hundred venues of every category and a few
//! thousand residents with valid ID numbers. Deterministic by seed.

pub mod demo;
pub mod names;
pub mod suzhou;

pub use demo::{DemoCity, DemoOptions};
