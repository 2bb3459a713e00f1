//! A binary search whose cache misses overlap: at each halving it asks for the lines of both places the next
//! halving may read, so a search over a venue's entry times (megabytes in a big city, nearly every probe a
//! miss on a machine whose last cache is small) waits on about half as many misses one after another.

use crate::prefetch::prefetch;

/// The first index of `sorted` (ascending) whose value is at least `value`, as
/// `sorted.partition_point(|&v| v < value)` gives it.
pub(crate) fn first_at_least(sorted: &[u32], value: u32) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let (mut base, mut size) = (0, sorted.len());
    // The answer is in `base..=base + size`, and `sorted[base] < value` unless `base` is 0.
    while size > 1 {
        let half = size / 2;
        let next_half = (size - half) / 2;
        // Both are below `base + size`: the next probe is one of them, whichever way this one goes.
        prefetch(&sorted[base + next_half]);
        prefetch(&sorted[base + half + next_half]);
        if sorted[base + half] < value {
            base += half;
        }
        size -= half;
    }
    base + usize::from(sorted[base] < value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_partition_point_finds() {
        // Every length up to 70 with repeated values, every value around them.
        for len in 0..70u32 {
            let sorted: Vec<u32> = (0..len).map(|i| i / 3 * 2 + 5).collect();
            for value in 0..len + 10 {
                let expected = sorted.partition_point(|&v| v < value);
                assert_eq!(first_at_least(&sorted, value), expected, "len {len}, value {value}");
            }
        }
        assert_eq!(first_at_least(&[u32::MAX; 5], u32::MAX), 0);
        assert_eq!(first_at_least(&[0, 1, u32::MAX], u32::MAX), 2);
    }
}
