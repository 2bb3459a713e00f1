//! A binary search whose cache misses overlap: at each halving it asks for the lines of both places the next
//! halving may read, so a search over a venue's entry times (megabytes in a big city, nearly every probe a
//! miss on a machine whose last cache is small) waits on about half as many misses one after another.

use crate::prefetch::prefetch;

/// The first index of `sorted` (ascending) whose value is at least `value`, as
/// `sorted.partition_point(|&v| v < value)` gives it.
pub(crate) fn first_at_least(sorted: &[u32], value: u32) -> usize {
    let mut search = Halving::new(sorted.len());
    while search.step(sorted, value) {}
    search.answer(sorted, value)
}

/// A search in progress, halved one step at a time: many searches stepped in turn (see
/// [`crate::index`]'s staged reads) wait on their misses together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Halving {
    /// The answer is in `base..=base + size`, and `sorted[base] < value` unless `base` is 0.
    base: usize,
    size: usize,
}

impl Halving {
    /// A search over a slice of `len` values.
    pub fn new(len: usize) -> Self {
        Halving { base: 0, size: len }
    }

    /// Asks for the line of the first probe (the others are asked for a step ahead).
    pub fn prefetch_first(&self, sorted: &[u32]) {
        if self.size > 1 {
            prefetch(&sorted[self.base + self.size / 2]);
        }
    }

    /// Halves the range once, asking for the lines of both places the next halving may read; false when
    /// nothing is left to halve.
    #[inline(always)]
    pub fn step(&mut self, sorted: &[u32], value: u32) -> bool {
        if self.size <= 1 {
            return false;
        }
        let half = self.size / 2;
        let next_half = (self.size - half) / 2;
        // Both are below `base + size`: the next probe is one of them, whichever way this one goes.
        prefetch(&sorted[self.base + next_half]);
        prefetch(&sorted[self.base + half + next_half]);
        if sorted[self.base + half] < value {
            self.base += half;
        }
        self.size -= half;
        true
    }

    /// The answer, once [`Halving::step`] returned false.
    pub fn answer(&self, sorted: &[u32], value: u32) -> usize {
        match sorted.get(self.base) {
            Some(&v) => self.base + usize::from(v < value),
            None => 0,
        }
    }
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
