//! `--shard K/N`: a stable partition of the artifact set, so N independent workers (a
//! Kubernetes Indexed Job, a Slurm array) each scan one part. K counts from 1.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::zone::digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the artifact at `relative` (its path below the scan root) belongs to this shard.
    /// The hash depends on the path alone, so every worker agrees without talking to the others.
    pub fn contains(&self, relative: &str) -> bool {
        let digest = digest::sha256(relative.as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        u64::from_be_bytes(head) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad shard `{0}`: expected K/N with 1 <= K <= N (e.g. 1/4)")]
pub struct BadShard(String);

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(text: &str) -> Result<Self, BadShard> {
        let bad = || BadShard(text.to_owned());
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/2", "0/0", "0/3", "1/0", "x/2", "2", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_path_exactly_once() {
        let paths: Vec<String> = (0..2000).map(|i| format!("org/model-{i}/w.bin")).collect();
        for count in [1, 2, 3, 7, 16] {
            let mut sizes = vec![0usize; count as usize];
            for path in &paths {
                let owners: Vec<u32> = (1..=count)
                    .filter(|&index| Shard { index, count }.contains(path))
                    .collect();
                assert_eq!(owners.len(), 1, "{path} in shards {owners:?} of {count}");
                sizes[owners[0] as usize - 1] += 1;
            }
            let fair = paths.len() / count as usize;
            assert!(sizes.iter().all(|s| *s > fair / 2), "{count}: {sizes:?}");
        }
    }
}
