//! Scanning many artifacts: walk, optional shard, a pool of `jobs` workers that pull artifacts
//! in walk order, an optional cache, and one sink that receives every result. Workers never
//! print; the calling thread alone writes. Memory stays bounded by the artifact list, a small
//! channel, and (for walk-ordered sinks) results that finished ahead of a slow one.

mod cache;
mod shard;
pub mod stdin;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

pub use cache::Cache;
pub use shard::{BadShard, Shard};

use crate::config::{Config, LimitOverrides};
use crate::model::finding::ArtifactReport;
use crate::policy::Policy;
use crate::report::baseline::{Baseline, BaselineInfo};
use crate::report::{RunInfo, Scanned, Sink, Tally};
use crate::scan;
use crate::signatures::{Matcher, Signatures};
use crate::zone::filter::Filter;
use crate::zone::walk;

/// One thing to report on: a file to scan, or a path the walk could not read.
#[derive(Debug, Clone)]
pub struct Item {
    pub seq: u64,
    kind: ItemKind,
}

impl Item {
    /// The path below the scan root (for a path the walk could not read, that path).
    pub fn relative(&self) -> &str {
        match &self.kind {
            ItemKind::File(artifact) => &artifact.relative,
            ItemKind::Unreadable { display, .. } => display,
        }
    }
}

#[derive(Debug, Clone)]
enum ItemKind {
    File(walk::Artifact),
    Unreadable { display: String, message: String },
}

/// The artifacts of one run, in walk order (walk errors first), after sharding.
#[derive(Debug, Default)]
pub struct Plan {
    pub items: Vec<Item>,
    pub shard: Option<Shard>,
}

impl Plan {
    /// Walks `paths` with `jobs` threads listing directories (0: one per core), leaving out
    /// what `filter` excludes; `seq` numbers the whole set, so shards of one tree merge back in
    /// order.
    pub fn new(
        paths: &[PathBuf],
        shard: Option<Shard>,
        jobs: usize,
        filter: &Filter,
    ) -> io::Result<Plan> {
        let (artifacts, errors) = walk::walk_filtered(paths, &pool(jobs)?, filter);
        let unreadable = errors.into_iter().map(|e| Item {
            seq: 0,
            kind: ItemKind::Unreadable {
                display: e.display,
                message: e.message,
            },
        });
        let files = artifacts.into_iter().map(|a| Item {
            seq: 0,
            kind: ItemKind::File(a),
        });
        let items = unreadable
            .chain(files)
            .zip(0..)
            .map(|(item, seq)| Item { seq, ..item })
            .filter(|item| shard.is_none_or(|s| s.contains(item.relative())))
            .collect();
        Ok(Plan { items, shard })
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The bytes of the files to scan, as they are now (for a progress bar).
    pub fn bytes(&self) -> u64 {
        self.items
            .iter()
            .filter_map(|item| match &item.kind {
                ItemKind::File(artifact) => std::fs::metadata(&artifact.path).ok(),
                ItemKind::Unreadable { .. } => None,
            })
            .map(|m| m.len())
            .fold(0u64, u64::saturating_add)
    }

    /// Reports the files found below `dir` under `prefix` followed by their path below it (a
    /// downloaded repository: `hf://org/name@<commit>/`).
    pub fn relabel(&mut self, dir: &std::path::Path, prefix: &str) {
        for item in &mut self.items {
            if let ItemKind::File(artifact) = &mut item.kind
                && let Ok(below) = artifact.path.strip_prefix(dir)
            {
                let below = below
                    .components()
                    .map(|c| crate::model::names::escaped_os(c.as_os_str()))
                    .collect::<Vec<_>>()
                    .join("/");
                artifact.display = format!("{prefix}{below}");
                artifact.relative = below;
            }
        }
    }

    /// Adds a result for something that could not be scanned (an `error` verdict).
    pub fn add_unreadable(&mut self, display: String, message: String) {
        let seq = self.items.iter().map(|i| i.seq + 1).max().unwrap_or(0);
        self.items.push(Item {
            seq,
            kind: ItemKind::Unreadable { display, message },
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// How a batch is scanned.
pub struct Batch<'a> {
    /// Settings from the command line (limits there given separately, as they win over the
    /// policy's).
    pub config: &'a Config,
    /// The compiled signature rules matched against every artifact; `None`: none.
    pub signatures: Option<&'a Signatures>,
    pub cli_limits: &'a LimitOverrides,
    pub policy: &'a Policy,
    pub cache: Option<&'a Cache>,
    /// Worker threads; 0 means one per core.
    pub jobs: usize,
    /// `--baseline`: findings of a previous report, left out of this one.
    pub baseline: Option<&'a Baseline>,
    /// Told of bytes done, from the worker threads, as they are done: each artifact's bytes
    /// as its hash proceeds (16 MiB blocks), the rest when its result is ready (a cached or
    /// small file all at once). The calls of one run add up to the bytes of its files.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl Batch<'_> {
    /// Scans every item of `plan` and hands each result to `sink`, then the summary. Returns
    /// the tally; stops early, with the sink's error, if the sink cannot write.
    pub fn run(&self, plan: &Plan, sink: &mut dyn Sink) -> io::Result<Tally> {
        let pool = pool(self.jobs)?;
        let workers = pool.current_num_threads();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (sender, receiver) = mpsc::sync_channel::<(usize, Scanned)>(workers * WAITING);
        let mut tally = Tally::default();
        let mut info = RunInfo {
            policy: self.policy.source.clone(),
            shard: plan.shard,
            baseline: None,
        };
        let fingerprints = Fingerprints::default();
        let baselined = AtomicU64::new(0);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                pool.scope(|s| {
                    for _ in 0..workers {
                        let sender = sender.clone();
                        let (next, stop, fingerprints, baselined) =
                            (&next, &stop, &fingerprints, &baselined);
                        s.spawn(move |_| {
                            // One signature scanner per worker, reused for every artifact.
                            let mut scanner = self.signatures.map(Signatures::scanner);
                            // Pull items in walk order, so walk-ordered output rarely waits.
                            while !stop.load(Ordering::Relaxed) {
                                let index = next.fetch_add(1, Ordering::Relaxed);
                                let Some(item) = plan.items.get(index) else {
                                    break;
                                };
                                let matcher = scanner.as_mut().map(|s| s as &mut dyn Matcher);
                                let scanned = self.scan(item, fingerprints, matcher);
                                let mut scanned = scanned;
                                if let Some(baseline) = self.baseline {
                                    let n = baseline.filter(&mut scanned.report);
                                    baselined.fetch_add(n, Ordering::Relaxed);
                                }
                                if sender.send((index, scanned)).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                });
                drop(sender);
            });
            let result = self.collect(receiver, sink, &mut tally);
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            result
        })?;
        info.baseline = self.baseline.map(|b| BaselineInfo {
            path: b.path.clone(),
            findings: baselined.load(Ordering::Relaxed),
        });
        sink.finish(&info, &tally)?;
        Ok(tally)
    }

    /// Passes results to the sink, in walk order when it wants them so.
    fn collect(
        &self,
        receiver: mpsc::Receiver<(usize, Scanned)>,
        sink: &mut dyn Sink,
        tally: &mut Tally,
    ) -> io::Result<()> {
        let ordered = sink.ordered();
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        while let Ok(first) = receiver.recv() {
            // Let a stream of small artifacts gather, so that this thread wakes once per batch
            // rather than once per result (each wake is a system call in the sending worker
            // and a switch here). Nothing waits when results are slow: `recv` blocks for the
            // next one.
            std::thread::sleep(GATHER);
            for (index, scanned) in std::iter::once(first).chain(receiver.try_iter()) {
                tally.add(&scanned);
                if !ordered {
                    sink.artifact(scanned)?;
                    continue;
                }
                waiting.insert(index, scanned);
                while let Some(scanned) = waiting.remove(&next) {
                    sink.artifact(scanned)?;
                    next += 1;
                }
            }
            sink.flush()?;
        }
        Ok(())
    }

    fn scan(
        &self,
        item: &Item,
        fingerprints: &Fingerprints,
        matcher: Option<&mut dyn Matcher>,
    ) -> Scanned {
        let start = Instant::now();
        let (mut report, cached) = match &item.kind {
            ItemKind::Unreadable { display, message } => (
                ArtifactReport::failed(display.clone(), message.clone()),
                false,
            ),
            ItemKind::File(artifact) => {
                let config = self
                    .policy
                    .config_for(self.config, self.cli_limits, item.relative());
                let reported = AtomicU64::new(0);
                let hashed = |n: u64| {
                    if let Some(progress) = self.progress {
                        reported.fetch_add(n, Ordering::Relaxed);
                        progress(n);
                    }
                };
                let scan = || {
                    scan::scan_file_progress(
                        &artifact.path,
                        &artifact.display,
                        &config,
                        matcher,
                        &hashed,
                    )
                };
                let (report, cached) = match self.cache {
                    Some(cache) => {
                        let fingerprint = fingerprints.of(&config, self.signatures);
                        cache.get_or_scan(
                            &artifact.path,
                            &artifact.display,
                            &config,
                            &fingerprint,
                            scan,
                        )
                    }
                    None => (scan(), false),
                };
                let report = ArtifactReport {
                    aliases: artifact.aliases.clone(),
                    path_bytes: crate::model::names::raw_hex(artifact.path.as_os_str()),
                    ..report
                };
                if let Some(progress) = self.progress {
                    let rest = report.size.saturating_sub(reported.load(Ordering::Relaxed));
                    if rest > 0 {
                        progress(rest);
                    }
                }
                (report, cached)
            }
        };
        self.policy.adjust(item.relative(), &mut report);
        Scanned {
            seq: item.seq,
            report,
            relative_path: item.relative().to_owned(),
            cached,
            duration_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Results a worker may leave in the channel ahead of the writer (times the workers): room for
/// what small artifacts yield during one [`GATHER`].
const WAITING: usize = 64;

/// How long the writer lets results gather once one has arrived: a bound on the delay it adds.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// Stack of each worker thread: nesting is bounded by `scan::context::MAX_DEPTH_CEILING`, and
/// this holds that many levels with a wide margin (it is reserved, not committed).
const WORKER_STACK: usize = 64 << 20;

fn pool(jobs: usize) -> io::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .stack_size(WORKER_STACK)
        .build()
        .map_err(io::Error::other)
}

/// Settings fingerprints, computed once per distinct configuration (per-path overrides make a
/// few), since each one hashes the rule registry.
#[derive(Default)]
struct Fingerprints(std::sync::Mutex<Fingerprinted>);

#[derive(Default)]
struct Fingerprinted {
    /// `scan::rules_sha256` of the run's rules, computed on first use.
    rules: Option<String>,
    known: std::collections::HashMap<Config, String>,
}

impl Fingerprints {
    fn of(&self, config: &Config, signatures: Option<&Signatures>) -> String {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(fingerprint) = state.known.get(config) {
            return fingerprint.clone();
        }
        let rules = state
            .rules
            .get_or_insert_with(|| scan::rules_sha256(signatures));
        let fingerprint = config.fingerprint(rules);
        state.known.insert(config.clone(), fingerprint.clone());
        fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use crate::report::Buffered;

    #[test]
    fn progress_reports_monotone_byte_counts_that_add_up_to_the_files() {
        let dir = tempfile::tempdir().unwrap();
        // 40 MiB: hashed in 16 MiB blocks beside its analysis, each block reported.
        std::fs::write(dir.path().join("big.bin"), vec![0x5au8; 40 << 20]).unwrap();
        std::fs::write(dir.path().join("small.bin"), b"hello").unwrap();
        let plan = Plan::new(&[dir.path().to_path_buf()], None, 1, &Filter::default()).unwrap();
        assert_eq!(plan.bytes(), (40 << 20) + 5);
        let seen = Mutex::new(Vec::<u64>::new());
        let progress = |n: u64| {
            let mut seen = seen.lock().unwrap();
            let before = seen.last().copied().unwrap_or(0);
            seen.push(before + n);
        };
        let (policy, config, limits) = (
            Policy::default(),
            Config::default(),
            LimitOverrides::default(),
        );
        let batch = Batch {
            config: &config,
            signatures: None,
            cli_limits: &limits,
            policy: &policy,
            cache: None,
            jobs: 2,
            baseline: None,
            progress: Some(&progress),
        };
        let mut sink = Buffered::new(|_: &[Scanned], _: &RunInfo, _: &Tally| Ok(()));
        let tally = batch.run(&plan, &mut sink).unwrap();
        assert_eq!(tally.summary.artifacts, 2);
        let seen = seen.into_inner().unwrap();
        let mut last = 0;
        for &total in &seen {
            assert!(total > last, "every call reports new bytes: {seen:?}");
            last = total;
        }
        assert_eq!(last, plan.bytes(), "{seen:?}");
        assert!(
            seen.len() >= 4,
            "the big file advances block by block: {seen:?}"
        );
    }
}
