//! Bounds for the per-person caches the gate reads: past their capacity, an eighth of the entries make room
//! (whichever the hash order gives first: no bookkeeping on the read path). A forgotten person is read from
//! the store again at their next scan, so eviction costs a lookup, never a wrong answer.

use std::collections::HashMap;
use std::hash::Hash;

/// Persons each cache keeps by default (a large district's daily scanners; about 1 GB of health records).
pub const DEFAULT_CACHED_PERSONS: usize = 2_000_000;

/// Makes room for one more entry: when `map` holds `capacity` or more, drops entries until it holds
/// seven eighths of it.
pub fn make_room<K: Eq + Hash, V>(map: &mut HashMap<K, V>, capacity: usize) {
    let capacity = capacity.max(1);
    if map.len() < capacity {
        return;
    }
    let keep = capacity - capacity.div_ceil(8);
    let mut excess = map.len() - keep;
    map.retain(|_, _| {
        if excess == 0 {
            return true;
        }
        excess -= 1;
        false
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_full_map_gives_up_an_eighth() {
        let mut map: std::collections::HashMap<u32, ()> = (0..100).map(|k| (k, ())).collect();
        super::make_room(&mut map, 200);
        assert_eq!(map.len(), 100, "below capacity nothing goes");
        super::make_room(&mut map, 100);
        assert_eq!(map.len(), 87);
        super::make_room(&mut map, 1);
        assert_eq!(map.len(), 0);
    }
}
