//! `--partition count:M/N` and `hash:M/N` (nextest's syntax): which trials shard M of N runs, so
//! a CI pipeline can spread a large run over its job matrix. Trials that need the SP to
//! themselves (O13 and O10's single-key variant restart it) always go to shard 1, so no other
//! shard restarts the SP.

use std::fmt;
use std::str::FromStr;

/// How trials are dealt to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The selected trials in plan order, dealt round-robin: shards of equal size (±1).
    Count,
    /// By a stable hash of the trial name: a trial stays in its shard when others come or go.
    Hash,
}

/// Shard `shard` (1-based) of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub kind: Kind,
    pub shard: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("`{0}`: expected count:M/N or hash:M/N (e.g. hash:1/3)")]
    Syntax(String),
    #[error("`{given}`: the shard {shard} is not between 1 and the number of shards {total}")]
    OutOfRange {
        given: String,
        shard: u64,
        total: u64,
    },
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(s: &str) -> Result<Partition, PartitionError> {
        let syntax = || PartitionError::Syntax(s.to_owned());
        let (kind, rest) = s.split_once(':').ok_or_else(syntax)?;
        let kind = match kind {
            "count" => Kind::Count,
            "hash" => Kind::Hash,
            _ => return Err(syntax()),
        };
        let (m, n) = rest.split_once('/').ok_or_else(syntax)?;
        let number = |x: &str| {
            if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            x.parse::<u64>().map_err(|_| syntax())
        };
        let (shard, total) = (number(m)?, number(n)?);
        if shard == 0 || shard > total {
            return Err(PartitionError::OutOfRange {
                given: s.to_owned(),
                shard,
                total,
            });
        }
        Ok(Partition { kind, shard, total })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Count => "count",
            Kind::Hash => "hash",
        };
        write!(f, "{kind}:{}/{}", self.shard, self.total)
    }
}

/// FNV-1a, 64 bits: the same on every platform and release (std's hasher is not).
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Deals trials to shards, in plan order.
#[derive(Debug, Clone)]
pub struct Dealer {
    partition: Partition,
    /// How many selected, unpinned trials were dealt so far (count mode).
    dealt: u64,
}

impl Dealer {
    pub fn new(partition: Partition) -> Dealer {
        Dealer {
            partition,
            dealt: 0,
        }
    }

    /// Whether this shard runs the trial `name`. `selected`: the filter and skips keep it
    /// (only those are counted, as nextest counts after filtering); `pinned`: it needs the SP
    /// to itself (shard 1 runs every such trial).
    pub fn keeps(&mut self, name: &str, selected: bool, pinned: bool) -> bool {
        let p = self.partition;
        if pinned {
            return p.shard == 1;
        }
        let index = match p.kind {
            Kind::Hash => stable_hash(name),
            Kind::Count if selected => {
                self.dealt += 1;
                self.dealt - 1
            }
            // Left for the filter to drop; the count is not moved.
            Kind::Count => return true,
        };
        index % p.total == p.shard - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_as_nextest_writes_them() {
        assert_eq!(
            "hash:2/3".parse::<Partition>(),
            Ok(Partition {
                kind: Kind::Hash,
                shard: 2,
                total: 3
            })
        );
        assert_eq!(
            "count:1/1".parse::<Partition>().unwrap().to_string(),
            "count:1/1"
        );
        for bad in [
            "",
            "hash",
            "hash:1",
            "slice:1/2",
            "count:a/2",
            "count:1/",
            "count:+1/2",
        ] {
            assert!(
                matches!(bad.parse::<Partition>(), Err(PartitionError::Syntax(_))),
                "{bad}"
            );
        }
        for bad in ["count:0/2", "hash:3/2", "count:1/0"] {
            assert!(
                matches!(
                    bad.parse::<Partition>(),
                    Err(PartitionError::OutOfRange { .. })
                ),
                "{bad}"
            );
        }
    }

    /// Every trial in exactly one shard, for both kinds; count shards differ by at most one;
    /// pinned trials all in shard 1.
    #[test]
    fn shards_cover_every_trial_once() {
        let names: Vec<String> = (0..50).map(|i| format!("pack::T{i}_trial")).collect();
        for kind in [Kind::Count, Kind::Hash] {
            let total = 3;
            let mut seen = vec![0u32; names.len()];
            let mut sizes = Vec::new();
            for shard in 1..=total {
                let mut d = Dealer::new(Partition { kind, shard, total });
                let mut size = 0;
                for (i, n) in names.iter().enumerate() {
                    let pinned = i == 7;
                    if d.keeps(n, true, pinned) {
                        seen[i] += 1;
                        size += 1;
                        if pinned {
                            assert_eq!(shard, 1);
                        }
                    }
                }
                sizes.push(size);
            }
            assert!(seen.iter().all(|&c| c == 1), "{kind:?}: {seen:?}");
            if kind == Kind::Count {
                // 49 dealt + 1 pinned in shard 1.
                assert_eq!(sizes, vec![18, 16, 16]);
            }
        }
        // A trial's hash shard does not depend on the others.
        let p = Partition {
            kind: Kind::Hash,
            shard: 2,
            total: 4,
        };
        let alone = Dealer::new(p).keeps("pack::S7_x", true, false);
        let mut d = Dealer::new(p);
        for n in &names {
            d.keeps(n, true, false);
        }
        assert_eq!(d.keeps("pack::S7_x", true, false), alone);
    }
}
