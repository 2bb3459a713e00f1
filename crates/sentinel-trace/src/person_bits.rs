//! One bit per person: a set over dense person numbers, an eighth of a byte a person, so it stays in cache
//! where a word a person does not.

#[derive(Debug, Clone, Default)]
pub(crate) struct PersonBits {
    words: Vec<u64>,
}

impl PersonBits {
    /// An empty set for persons numbered below `persons`.
    pub fn new(persons: usize) -> Self {
        PersonBits { words: vec![0; persons.div_ceil(64)] }
    }

    /// Adds `person`; one beyond the set's persons is ignored.
    pub fn insert(&mut self, person: u32) {
        if let Some(w) = self.words.get_mut(person as usize / 64) {
            *w |= 1 << (person % 64);
        }
    }

    /// Empties the set (a write of its whole size).
    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    pub fn remove(&mut self, person: u32) {
        if let Some(w) = self.words.get_mut(person as usize / 64) {
            *w &= !(1 << (person % 64));
        }
    }

    #[inline]
    pub fn contains(&self, person: u32) -> bool {
        self.words.get(person as usize / 64).is_some_and(|w| w & (1 << (person % 64)) != 0)
    }

    /// The persons in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(word, &bits)| {
            let base = (word * 64) as u32;
            std::iter::successors((bits != 0).then_some(bits), |&b| Some(b & (b - 1)).filter(|&b| b != 0))
                .map(move |b| base + b.trailing_zeros())
        })
    }

    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_in_order_and_nothing_beyond() {
        let mut bits = PersonBits::new(200);
        for p in [130, 0, 63, 64, 199, 500] {
            bits.insert(p);
        }
        assert_eq!(bits.iter().collect::<Vec<_>>(), [0, 63, 64, 130, 199], "500 is beyond the set");
        bits.remove(64);
        assert!(!bits.contains(64) && bits.contains(63) && !bits.contains(500));
        assert_eq!(bits.bytes(), 4 * 8);
    }
}
