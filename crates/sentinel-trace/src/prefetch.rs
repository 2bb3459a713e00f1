//! A hint to the processor to start loading a cache line before it is read: for loops whose next reads are
//! known ahead but scattered, so their cache misses overlap instead of coming one after another.

/// Starts loading the cache line holding `item` into every cache level. Changes no result; on processors
/// other than x86-64 it does nothing.
#[inline(always)]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(item);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
