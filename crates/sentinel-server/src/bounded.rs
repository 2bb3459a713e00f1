//! Bounds for the per-person caches the gate reads: past their capacity, an eighth of the entries make room
//! (whichever the hash order gives first: no bookkeeping on the read path). A forgotten person is read from
//! the store again at their next scan, so eviction costs a lookup, never a wrong answer.

use std::collections::HashMap;
use std::hash::Hash;

/// Persons each cache keeps by default (a large district's daily scanners; about 1 GB of health records).
pub const DEFAULT_CACHED_PERSONS: usize = 2_000_000;

/// Makes room for one more entry: when `map` holds `capacity` or more, takes entries out until it holds
/// seven eighths of it. They are returned so the caller can drop them after releasing its lock (freeing a
/// quarter of a million records is not work to do while every scan waits).
#[must_use = "drop the evicted entries outside the lock"]
pub fn make_room<K: Eq + Hash + Clone, V>(map: &mut HashMap<K, V>, capacity: usize) -> Vec<V> {
    let capacity = capacity.max(1);
    if map.len() < capacity {
        return Vec::new();
    }
    let keep = capacity - capacity.div_ceil(8);
    let excess: Vec<K> = map.keys().take(map.len() - keep).cloned().collect();
    excess.iter().filter_map(|k| map.remove(k)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_full_map_gives_up_an_eighth() {
        let mut map: std::collections::HashMap<u32, ()> = (0..100).map(|k| (k, ())).collect();
        assert!(super::make_room(&mut map, 200).is_empty());
        assert_eq!(map.len(), 100, "below capacity nothing goes");
        assert_eq!(super::make_room(&mut map, 100).len(), 13);
        assert_eq!(map.len(), 87);
        assert_eq!(super::make_room(&mut map, 1).len(), 87);
        assert_eq!(map.len(), 0);
    }
}
