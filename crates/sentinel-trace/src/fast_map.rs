//! Hash maps and sets keyed by dense person numbers: the trace touches up to hundreds of thousands of them per
//! case, and SipHash's resistance to crafted keys buys nothing for numbers the index itself assigned.

pub type PersonMap<V> = rustc_hash::FxHashMap<u32, V>;
pub type PersonSet = rustc_hash::FxHashSet<u32>;
