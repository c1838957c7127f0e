//! Where ads go in a feed page: between author items only, with an author item on both sides.

/// Ad placement settings (`ads.first_slot`, `ads.interval`, `ads.max_per_page`).
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub first_slot: usize,
    pub interval: usize,
    pub max_per_page: usize,
}

impl Placement {
    /// For a page of `authors` author items: how many author items precede each ad slot. Every
    /// slot has an author item before and after it, and slots are at least one author apart, so
    /// two ads are never adjacent.
    pub fn slots(&self, authors: usize) -> Vec<usize> {
        let first = self.first_slot.max(1);
        let step = self.interval.max(1);
        (0..self.max_per_page)
            .map(|k| first + k * step)
            .take_while(|&p| p < authors)
            .collect()
    }
}

/// Interleaves `ads` into `authors` at the given slots (from `Placement::slots`); slots without an
/// ad (fewer decisions than slots) are simply skipped.
pub fn splice<T>(authors: Vec<T>, ads: Vec<T>, slots: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(authors.len() + ads.len());
    let mut ads = ads.into_iter();
    let mut slots = slots.iter().peekable();
    for (i, author) in authors.into_iter().enumerate() {
        if slots.peek().is_some_and(|&&p| p == i) {
            slots.next();
            if let Some(ad) = ads.next() {
                out.push(ad);
            }
        }
        out.push(author);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Placement = Placement {
        first_slot: 2,
        interval: 4,
        max_per_page: 3,
    };

    #[test]
    fn default_placement() {
        assert_eq!(DEFAULT.slots(20), [2, 6, 10]);
        assert_eq!(DEFAULT.slots(7), [2, 6]);
        assert_eq!(DEFAULT.slots(6), [2], "no ad after the last author");
        assert_eq!(DEFAULT.slots(2), Vec::<usize>::new());
        assert_eq!(
            Placement {
                first_slot: 0,
                interval: 1,
                max_per_page: 10
            }
            .slots(4),
            [1, 2, 3],
            "never first, never last, never adjacent"
        );
    }

    #[test]
    fn splicing() {
        let authors: Vec<String> = (0..8).map(|i| format!("a{i}")).collect();
        let out = splice(authors, vec!["AD1".to_string(), "AD2".to_string()], &DEFAULT.slots(8));
        assert_eq!(out, ["a0", "a1", "AD1", "a2", "a3", "a4", "a5", "AD2", "a6", "a7"]);
        let out = splice(vec![1, 2, 3, 4, 5, 6, 7], vec![100], &DEFAULT.slots(7));
        assert_eq!(out, [1, 2, 100, 3, 4, 5, 6, 7], "an unfilled slot is skipped");
    }
}
