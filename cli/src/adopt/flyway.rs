//! Flyway versions (`V1__`, `V1.1__`, `V1_1__`, `V2024.01.3__`) mapped onto db-migrate's integer
//! versions so that they sort as Flyway sorts them: segment by segment, numerically.
//!
//! The mapping is chosen for the whole set being imported:
//! - every version a single number: the number itself (`V7` → 7, `V20240101120000` stays);
//! - otherwise each version becomes its segments in fixed width: the first as written, then
//!   `segments − 1` more of `width` digits each (zero-padded; missing segments are 0), where
//!   `segments` is the most any version has and `width` the most digits any later segment has,
//!   at least 3. `V1, V1.1, V1.2, V2, V10` → 1000, 1001, 1002, 2000, 10000.
//!
//! A version whose mapping does not fit db-migrate's 19 digits (at most 9223372036854775807) is
//! refused rather than shortened, since shortening would change the order.

use std::fmt;

/// A Flyway version's numeric segments, trailing zero segments removed (Flyway treats `1.0`
/// as `1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(Vec<u64>);

impl Version {
    /// Parses the version part of a file name (`1.1`, `1_1`) or of a history row (`1.1`).
    pub fn parse(raw: &str) -> Option<Version> {
        let mut segs = raw.split(['.', '_']).map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None }).collect::<Option<Vec<u64>>>()?;
        while segs.len() > 1 && segs.last() == Some(&0) {
            segs.pop();
        }
        Some(Version(segs))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// How a set of Flyway versions becomes db-migrate versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    segments: usize,
    width: u32,
}

fn digits(n: u64) -> u32 {
    n.checked_ilog10().map_or(1, |l| l + 1)
}

impl Mapping {
    /// The mapping for one set of versions (see the module documentation).
    pub fn for_set<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Mapping {
        let mut segments = 1;
        let mut width = 3;
        for v in versions {
            segments = segments.max(v.0.len());
            width = v.0.iter().skip(1).map(|&s| digits(s)).fold(width, u32::max);
        }
        Mapping { segments, width }
    }

    /// The db-migrate version of `v`, or why it cannot have one.
    pub fn map(&self, v: &Version) -> Result<i64, String> {
        let too_big = || {
            format!(
                "as a db-migrate version it needs more than 19 digits ({} segment(s) of {} digits after the first); \
                 rename it with fewer or shorter segments",
                self.segments - 1,
                self.width
            )
        };
        if self.segments == 1 {
            return i64::try_from(v.0[0]).map_err(|_| too_big());
        }
        let step = 10i64.checked_pow(self.width).ok_or_else(too_big)?;
        let mut out = i64::try_from(v.0[0]).map_err(|_| too_big())?;
        for i in 1..self.segments {
            let seg = v.0.get(i).copied().unwrap_or(0);
            let seg = i64::try_from(seg).map_err(|_| too_big())?;
            out = out.checked_mul(step).and_then(|o| o.checked_add(seg)).ok_or_else(too_big)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_all(raw: &[&str]) -> Vec<i64> {
        let vs: Vec<Version> = raw.iter().map(|r| Version::parse(r).unwrap()).collect();
        let m = Mapping::for_set(&vs);
        vs.iter().map(|v| m.map(v).unwrap()).collect()
    }

    #[test]
    fn dotted_versions_keep_flyway_order() {
        assert_eq!(map_all(&["1", "1.1", "1.2", "2", "10"]), vec![1000, 1001, 1002, 2000, 10000]);
        assert_eq!(map_all(&["1_1", "1.10", "1.9.3"]), vec![1_001_000, 1_010_000, 1_009_003]);
        assert_eq!(map_all(&["1.2345", "1.999"]), vec![12345, 10999]);
        let mut shuffled = vec!["3.1", "1.10", "1.2", "2", "1.2.1", "10", "1"];
        let mapped = map_all(&shuffled);
        let mut by_mapping: Vec<(i64, &str)> = mapped.into_iter().zip(shuffled.iter().copied()).collect();
        by_mapping.sort();
        shuffled.sort_by_key(|r| Version::parse(r).unwrap());
        assert_eq!(by_mapping.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), shuffled);
    }

    #[test]
    fn single_numbers_stay_as_they_are() {
        assert_eq!(map_all(&["1", "2", "20240101120000"]), vec![1, 2, 20240101120000]);
        assert_eq!(Version::parse("1.0"), Version::parse("1"), "Flyway compares 1.0 and 1 as equal");
    }

    #[test]
    fn versions_that_do_not_fit_are_refused() {
        let vs = [Version::parse("20240101120000.1").unwrap(), Version::parse("20240101120000.2.1").unwrap()];
        let m = Mapping::for_set(&vs);
        assert!(m.map(&vs[0]).unwrap_err().contains("more than 19 digits"));
        assert!(Version::parse("1.x").is_none());
        assert!(Mapping::for_set([&Version::parse("9999999999999999999").unwrap()]).map(&Version::parse("9999999999999999999").unwrap()).is_err());
    }
}
