//! Sets of completion indexes in Kubernetes' interval form, as in `status.completedIndexes`,
//! `status.failedIndexes` and a successPolicy's `succeededIndexes`: `"1,3-5"`.
//!
//! [`IndexSet::parse`] is the API server's strict reading (`validateIndexesFormat` in
//! `pkg/apis/batch/validation`), with its error messages; [`IndexSet::parse_lenient`] is the Job
//! controller's reading of its own status (`parseIndexesFromString`), which skips what it cannot
//! read. [`IndexSet`]'s `Display` writes the controller's form (semantics.md §3.8): sorted, runs of
//! 3 or more as `a-b`, a pair as `a,b`.

use std::fmt;

/// A set of non-negative indexes, kept as sorted, disjoint, non-adjacent inclusive intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IndexSet {
    /// `(first, last)`, inclusive, sorted; consecutive intervals never touch (`last + 1 < next.first`).
    intervals: Vec<(i32, i32)>,
}

/// Why an interval list is malformed: Kubernetes' messages (Go's `%q` quotes the fragment).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexesError {
    /// `1-2-3`.
    #[error(
        "the fragment {0:?} violates the requirement that an index interval can have at most two parts separated by '-'"
    )]
    TooManyParts(String),
    /// Not a decimal integer (this covers a negative index: `-1` reads as the empty string then `1`).
    #[error("cannot convert string to integer for index: {0:?}")]
    NotAnInteger(String),
    /// An index ≥ completions.
    #[error("too large index: {0:?}")]
    TooLarge(String),
    /// Items not strictly increasing (`3,1`, `1-1`, `1-3,3`).
    #[error("non-increasing order, previous: {previous}, current: {current}")]
    NonIncreasing {
        /// The last index of the previous item (or the first index of this interval).
        previous: i64,
        /// The offending index.
        current: i64,
    },
}

/// Go's `strconv.Atoi` on a 64-bit platform: an optional sign, then decimal digits, nothing else.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

impl IndexSet {
    /// The empty set.
    pub fn new() -> IndexSet {
        IndexSet::default()
    }

    /// The API server's strict reading of an interval list whose indexes must be below
    /// `completions` (`validateIndexesFormat`): comma-separated `i` or `i-j` items with `i < j`,
    /// strictly increasing. The empty string is the empty set. Adjacent items (`1,2`) are allowed
    /// and merged.
    pub fn parse(s: &str, completions: i32) -> Result<IndexSet, IndexesError> {
        let mut set = IndexSet::new();
        if s.is_empty() {
            return Ok(set);
        }
        let completions = i64::from(completions);
        let mut last: Option<i64> = None;
        for fragment in s.split(',') {
            let parts: Vec<&str> = fragment.split('-').collect();
            if parts.len() > 2 {
                return Err(IndexesError::TooManyParts(fragment.to_string()));
            }
            let read = |p: &str| atoi(p).ok_or_else(|| IndexesError::NotAnInteger(p.to_string()));
            let x = read(parts[0])?;
            if x >= completions {
                return Err(IndexesError::TooLarge(parts[0].to_string()));
            }
            if let Some(previous) = last
                && previous >= x
            {
                return Err(IndexesError::NonIncreasing { previous, current: x });
            }
            let y = match parts.get(1) {
                Some(p) => {
                    let y = read(p)?;
                    if y >= completions {
                        return Err(IndexesError::TooLarge((*p).to_string()));
                    }
                    if x >= y {
                        return Err(IndexesError::NonIncreasing { previous: x, current: y });
                    }
                    y
                }
                None => x,
            };
            last = Some(y);
            // x ≥ 0 (a sign other than '+' never gets here: '-' splits) and y < completions.
            set.push_range(to_i32(x), to_i32(y));
        }
        Ok(set)
    }

    /// The Job controller's reading of its own status (`parseIndexesFromString`): an item it
    /// cannot read is skipped, reading stops at the first item that starts at or above
    /// `completions`, and an interval reaching past it is cut at `completions − 1`. Never fails.
    pub fn parse_lenient(s: &str, completions: i32) -> IndexSet {
        let mut set = IndexSet::new();
        if s.is_empty() {
            return set;
        }
        let completions = i64::from(completions);
        for fragment in s.split(',') {
            let mut parts = fragment.split('-');
            let Some(first) = parts.next().and_then(atoi) else { continue };
            if first >= completions {
                break;
            }
            let last = match parts.next() {
                Some(p) => match atoi(p) {
                    Some(last) => last.min(completions - 1),
                    None => continue,
                },
                None => first,
            };
            if first < 0 || last < first {
                continue;
            }
            set.insert_range(to_i32(first), to_i32(last));
        }
        set
    }

    /// Appends `first..=last`, which starts after every index in the set.
    fn push_range(&mut self, first: i32, last: i32) {
        match self.intervals.last_mut() {
            Some(prev) if i64::from(prev.1) + 1 >= i64::from(first) => prev.1 = prev.1.max(last),
            _ => self.intervals.push((first, last)),
        }
    }

    /// Adds `first..=last` (any order relative to the set).
    pub fn insert_range(&mut self, first: i32, last: i32) {
        if first > last {
            return;
        }
        // Every interval that overlaps or touches [first, last] merges into one.
        let start = self.intervals.partition_point(|&(_, l)| i64::from(l) + 1 < i64::from(first));
        let end = self.intervals.partition_point(|&(f, _)| i64::from(f) <= i64::from(last) + 1);
        let merged =
            self.intervals[start..end].iter().fold((first, last), |(f, l), &(a, b)| (f.min(a), l.max(b)));
        self.intervals.splice(start..end, [merged]);
    }

    /// Adds `index`. Returns true when it was not in the set.
    pub fn insert(&mut self, index: i32) -> bool {
        if self.contains(index) {
            return false;
        }
        self.insert_range(index, index);
        true
    }

    /// True when `index` is in the set.
    pub fn contains(&self, index: i32) -> bool {
        let pos = self.intervals.partition_point(|&(_, last)| last < index);
        self.intervals.get(pos).is_some_and(|&(first, _)| first <= index)
    }

    /// The number of indexes in the set (Kubernetes' `total()`).
    pub fn count(&self) -> usize {
        self.intervals
            .iter()
            .map(|&(f, l)| usize::try_from(i64::from(l) - i64::from(f) + 1).unwrap_or(0))
            .sum()
    }

    /// True when the set has no index.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// The indexes, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        self.intervals.iter().flat_map(|&(f, l)| f..=l)
    }

    /// The intervals `(first, last)`, inclusive, increasing, never touching.
    pub fn intervals(&self) -> &[(i32, i32)] {
        &self.intervals
    }

    /// The `n` lowest indexes in `0..limit` that are not in the set, in increasing order (the
    /// controller's `firstPendingIndexes` walk over its intervals).
    pub fn first_missing(&self, limit: i32, n: usize) -> Vec<i32> {
        let mut result = Vec::new();
        let mut candidate = 0;
        for &(first, last) in &self.intervals {
            while candidate < limit && result.len() < n && candidate < first {
                result.push(candidate);
                candidate += 1;
            }
            if candidate <= last {
                candidate = last.saturating_add(1);
            }
        }
        while candidate < limit && result.len() < n {
            result.push(candidate);
            candidate += 1;
        }
        result
    }

    /// How many indexes the two sets share, from their intervals (a successPolicy rule's
    /// `succeededIndexes` against `completedIndexes`, FAIL-30).
    pub fn count_common(&self, other: &IndexSet) -> usize {
        let (mut a, mut b) = (self.intervals.iter().peekable(), other.intervals.iter().peekable());
        let mut common = 0usize;
        while let (Some(&&(f1, l1)), Some(&&(f2, l2))) = (a.peek(), b.peek()) {
            let (first, last) = (f1.max(f2), l1.min(l2));
            if first <= last {
                common += usize::try_from(i64::from(last) - i64::from(first) + 1).unwrap_or(0);
            }
            if l1 < l2 {
                a.next();
            } else {
                b.next();
            }
        }
        common
    }

    /// The union of two sets.
    pub fn union(&self, other: &IndexSet) -> IndexSet {
        let mut set = self.clone();
        for &(f, l) in &other.intervals {
            set.insert_range(f, l);
        }
        set
    }
}

fn to_i32(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl FromIterator<i32> for IndexSet {
    fn from_iter<I: IntoIterator<Item = i32>>(iter: I) -> IndexSet {
        let mut set = IndexSet::new();
        for i in iter {
            set.insert(i);
        }
        set
    }
}

/// The controller's form (`orderedIntervals.String()`): `a-b` for a run of 3 or more, `a,b` for a
/// pair, `a` alone; the empty set is the empty string.
impl fmt::Display for IndexSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, &(first, last)) in self.intervals.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last > first {
                let sep = if i64::from(last) == i64::from(first) + 1 { "," } else { "-" };
                write!(f, "{sep}{last}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn formats_runs_pairs_and_singles() {
        let set: IndexSet = [2, 4, 5, 7, 8, 9].into_iter().collect();
        assert_eq!(set.to_string(), "2,4,5,7-9"); // semantics.md §3.8
        assert_eq!(set.count(), 6);
        assert_eq!(IndexSet::new().to_string(), "");
        let set: IndexSet = [0, 1, 2].into_iter().collect();
        assert_eq!(set.to_string(), "0-2");
    }

    #[test]
    fn parses_what_the_api_server_accepts() {
        let set = IndexSet::parse("1,3-5", 10).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), [1, 3, 4, 5]);
        assert_eq!(set.to_string(), "1,3-5");
        assert_eq!(IndexSet::parse("", 0).unwrap(), IndexSet::new());
        // Adjacent items are allowed and merge; "1-2" is written "1,2".
        assert_eq!(IndexSet::parse("1,2,3", 4).unwrap().to_string(), "1-3");
        assert_eq!(IndexSet::parse("1-2", 4).unwrap().to_string(), "1,2");
        assert_eq!(IndexSet::parse("+1,02", 4).unwrap().to_string(), "1,2");
    }

    #[test]
    fn refuses_malformed_lists_with_kubernetes_messages() {
        let err = |s: &str, c: i32| IndexSet::parse(s, c).unwrap_err().to_string();
        assert_eq!(
            err("1-2-3", 10),
            "the fragment \"1-2-3\" violates the requirement that an index interval can have at most two parts separated by '-'"
        );
        assert_eq!(err("a", 10), "cannot convert string to integer for index: \"a\"");
        assert_eq!(err("-1", 10), "cannot convert string to integer for index: \"\"");
        assert_eq!(err("1,", 10), "cannot convert string to integer for index: \"\"");
        assert_eq!(err(" 1", 10), "cannot convert string to integer for index: \" 1\"");
        assert_eq!(err("1-x", 10), "cannot convert string to integer for index: \"x\"");
        assert_eq!(
            err("99999999999999999999", 10),
            "cannot convert string to integer for index: \"99999999999999999999\""
        );
        assert_eq!(err("10", 10), "too large index: \"10\"");
        assert_eq!(err("1-10", 10), "too large index: \"10\"");
        assert_eq!(err("3,1", 10), "non-increasing order, previous: 3, current: 1");
        assert_eq!(err("1-3,3", 10), "non-increasing order, previous: 3, current: 3");
        assert_eq!(err("2-2", 10), "non-increasing order, previous: 2, current: 2");
        assert_eq!(err("5-4", 10), "non-increasing order, previous: 5, current: 4");
    }

    #[test]
    fn lenient_parse_skips_corrupt_items_and_cuts_at_completions() {
        assert_eq!(IndexSet::parse_lenient("0,x,2-y,4-9,12", 7).to_string(), "0,4-6");
        assert_eq!(IndexSet::parse_lenient("0,8,3", 5).to_string(), "0"); // stops at 8
        assert_eq!(IndexSet::parse_lenient("3,1", 5).to_string(), "1,3");
        assert_eq!(IndexSet::parse_lenient("", 5), IndexSet::new());
    }

    #[test]
    fn first_missing_skips_members() {
        // S48: succeeded 2,4,5,7-9 and active 0,3 → 1,6,10,11,12,13.
        let set: IndexSet = [0, 2, 3, 4, 5, 7, 8, 9].into_iter().collect();
        assert_eq!(set.first_missing(20, 6), [1, 6, 10, 11, 12, 13]);
        assert_eq!(set.first_missing(11, 6), [1, 6, 10]);
        assert_eq!(IndexSet::new().first_missing(3, 0), Vec::<i32>::new());
    }

    fn model_strategy() -> impl Strategy<Value = BTreeSet<i32>> {
        proptest::collection::btree_set(0..200i32, 0..60)
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(model in model_strategy()) {
            let set: IndexSet = model.iter().copied().collect();
            let text = set.to_string();
            let parsed = IndexSet::parse(&text, 200).unwrap();
            prop_assert_eq!(&parsed, &set);
            prop_assert_eq!(parsed.to_string(), text.clone());
            prop_assert_eq!(IndexSet::parse_lenient(&text, 200), set);
        }

        #[test]
        fn behaves_as_a_set(model in model_strategy(), probes in proptest::collection::vec(0..210i32, 0..40),
                            ranges in proptest::collection::vec((0..200i32, 0..8i32), 0..6)) {
            let mut set = IndexSet::new();
            let mut expected = BTreeSet::new();
            for &i in &model {
                prop_assert_eq!(set.insert(i), expected.insert(i));
            }
            for &(f, len) in &ranges {
                set.insert_range(f, f + len);
                expected.extend(f..=f + len);
            }
            for &i in &probes {
                prop_assert_eq!(set.contains(i), expected.contains(&i));
                prop_assert_eq!(set.insert(i), expected.insert(i));
            }
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), expected.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(set.count(), expected.len());
            prop_assert_eq!(set.is_empty(), expected.is_empty());
            // Invariant: sorted, disjoint, never touching.
            for w in set.intervals().windows(2) {
                prop_assert!(w[0].0 <= w[0].1 && w[0].1 + 1 < w[1].0);
            }
            let missing: Vec<i32> = (0..150).filter(|i| !expected.contains(i)).take(7).collect();
            prop_assert_eq!(set.first_missing(150, 7), missing);
            let other: IndexSet = probes.iter().copied().collect();
            let union: BTreeSet<i32> = expected.iter().chain(probes.iter()).copied().collect();
            prop_assert_eq!(set.union(&other).iter().collect::<Vec<_>>(), union.into_iter().collect::<Vec<_>>());
            let mut wide = other.clone();
            for &(f, len) in &ranges {
                wide.insert_range(f, f + 3 * len);
            }
            let common = expected.iter().filter(|i| wide.contains(**i)).count();
            prop_assert_eq!(set.count_common(&wide), common);
            prop_assert_eq!(wide.count_common(&set), common);
        }
    }
}
