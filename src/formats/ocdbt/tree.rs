//! The trees of an OCDBT database, read for one thing: where in a given data file the
//! out-of-line values lie. TensorStore's format document (`kvstore/ocdbt/index.rst`): the
//! manifest holds the configuration, a data file table and the version tree (the latest roots
//! inline, older ones through version tree nodes); each version's B+tree leaves hold, for a value
//! stored out of line, its data file, offset and length. Every node is read whole, checked
//! (magic, length, version, CRC-32C) and decoded with bounds: a node count and a byte budget
//! for the whole walk, a cap on each decompressed node. Anything unexpected ends the walk with
//! nothing (the caller then vouches for nothing).

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Read;

use crate::bytes::{ReadRef, varint};
use crate::formats::data;

const BTREE_MAGIC: [u8; 4] = [0x0c, 0xdb, 0x20, 0xde];
const VERSION_MAGIC: [u8; 4] = [0x0c, 0xdb, 0x12, 0x34];
/// Nodes read per walk (an Orbax checkpoint's store has a few per commit).
const MAX_NODES: usize = 16_384;
/// Encoded node bytes read per walk.
const MAX_READ: u64 = 256 << 20;
/// A node's decompressed body (TensorStore's default `max_decoded_node_bytes` is 8 MiB).
const MAX_DECODED: u64 = 8 << 20;
/// A node as stored (compressed or not, at most about its decoded size).
const MAX_NODE: u64 = MAX_DECODED + (1 << 20);
/// Entries of one node or table.
const MAX_ENTRIES: u64 = 1 << 20;

/// Where the nodes of the database are read from, by data file path (relative to the folder of
/// `manifest.ocdbt`, as the data file tables spell it).
pub trait Source {
    fn read(&mut self, path: &[u8], offset: u64, length: u64) -> Option<Cow<'_, [u8]>>;
}

/// A node the walk has yet to read.
struct Pending {
    path: Vec<u8>,
    /// The path prefix its own data file table's entries are relative to.
    transitive: Vec<u8>,
    offset: u64,
    length: u64,
    kind: NodeKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    /// A B+tree node of the given height.
    Btree(u8),
    /// A version tree node.
    Version,
}

/// A data file table entry: the full path and the transitive prefix for what it points to.
struct DataFile {
    path: Vec<u8>,
    transitive: Vec<u8>,
}

/// The (offset, length) of every out-of-line value stored in the data file `target`, as the
/// trees of all versions the manifest lists reference them; `None` when the manifest or a node
/// does not decode, or the walk runs past its bounds.
pub fn value_references(
    manifest: &[u8],
    target: &[u8],
    source: &mut dyn Source,
) -> Option<Vec<(u64, u64)>> {
    let body = node_body(manifest, [0x0c, 0xdb, 0x3a, 0x2a])?;
    let mut at = 16; // uuid
    let (manifest_kind, next) = varint(&body, at)?;
    // A numbered manifest keeps its versions in other files: not followed.
    if manifest_kind != 0 {
        return None;
    }
    let (_max_inline, next) = varint(&body, next)?;
    let (_max_decoded, next) = varint(&body, next)?;
    at = next + 1; // version_tree_arity_log2
    let (compression, next) = varint(&body, at)?;
    at = match compression {
        0 => next,
        1 => next + 4, // zstd level
        _ => return None,
    };
    let mut walk = Walk {
        target,
        pending: Vec::new(),
        values: Vec::new(),
    };
    let (files, next) = data_file_table(&body, at, b"")?;
    at = walk.version_leaf_entries(&body, next, &files)?;
    at = walk.version_interior_entries(&body, at, &files, None)?;
    if at != body.len() {
        return None;
    }
    walk.run(source)
}

struct Walk<'t> {
    target: &'t [u8],
    pending: Vec<Pending>,
    values: Vec<(u64, u64)>,
}

impl Walk<'_> {
    fn run(mut self, source: &mut dyn Source) -> Option<Vec<(u64, u64)>> {
        let mut seen = HashSet::new();
        let mut read = 0u64;
        while let Some(node) = self.pending.pop() {
            if !seen.insert((node.path.clone(), node.offset)) {
                continue;
            }
            read = read.checked_add(node.length)?;
            if seen.len() > MAX_NODES || read > MAX_READ || node.length > MAX_NODE {
                return None;
            }
            let bytes = source.read(&node.path, node.offset, node.length)?;
            match node.kind {
                NodeKind::Btree(height) => {
                    let body = node_body(&bytes, BTREE_MAGIC)?;
                    self.btree_node(&body, height, &node.transitive)?;
                }
                NodeKind::Version => {
                    let body = node_body(&bytes, VERSION_MAGIC)?;
                    self.version_node(&body, &node.transitive)?;
                }
            }
        }
        self.values.sort_unstable();
        self.values.dedup();
        Some(self.values)
    }

    fn push(&mut self, file: &DataFile, offset: u64, length: u64, kind: NodeKind) {
        self.pending.push(Pending {
            path: file.path.clone(),
            transitive: file.transitive.clone(),
            offset,
            length,
            kind,
        });
    }

    /// Version tree leaf entries (the manifest's inline versions, or a height-0 version node):
    /// the B+tree root of each version.
    fn version_leaf_entries(
        &mut self,
        body: &[u8],
        at: usize,
        files: &[DataFile],
    ) -> Option<usize> {
        let (n, mut at) = count(body, at)?;
        (_, at) = varints(body, at, n)?; // generation numbers
        let heights = body.get(at..at.checked_add(n)?)?.to_vec();
        at += n;
        let (ids, offsets, lengths);
        (ids, at) = varints(body, at, n)?;
        (offsets, at) = varints(body, at, n)?;
        (lengths, at) = varints(body, at, n)?;
        (_, at) = varints(body, at, 3 * n)?; // num_keys, num_tree_bytes, num_indirect_value_bytes
        at = at.checked_add(n.checked_mul(8)?)?; // commit_time
        if at > body.len() {
            return None;
        }
        for i in 0..n {
            let (id, offset, length) = (*ids.get(i)?, *offsets.get(i)?, *lengths.get(i)?);
            if length == 0 {
                continue; // an empty version has no root
            }
            let file = files.get(usize::try_from(id).ok()?)?;
            self.push(file, offset, length, NodeKind::Btree(*heights.get(i)?));
        }
        Some(at)
    }

    /// Version tree interior entries (the manifest's `version_nodes`, with their heights, or a
    /// version node of height `Some(h)`): version tree nodes.
    fn version_interior_entries(
        &mut self,
        body: &[u8],
        at: usize,
        files: &[DataFile],
        height: Option<u8>,
    ) -> Option<usize> {
        let (n, mut at) = count(body, at)?;
        let (ids, offsets, lengths);
        (_, at) = varints(body, at, n)?; // generation numbers
        (ids, at) = varints(body, at, n)?;
        (offsets, at) = varints(body, at, n)?;
        (lengths, at) = varints(body, at, n)?;
        (_, at) = varints(body, at, n)?; // num_generations
        at = at.checked_add(n.checked_mul(8)?)?; // commit_time
        if height.is_none() {
            at = at.checked_add(n)?; // entry_height
        }
        if at > body.len() {
            return None;
        }
        for i in 0..n {
            let file = files.get(usize::try_from(*ids.get(i)?).ok()?)?;
            self.push(file, *offsets.get(i)?, *lengths.get(i)?, NodeKind::Version);
        }
        Some(at)
    }

    fn version_node(&mut self, body: &[u8], transitive: &[u8]) -> Option<()> {
        let height = *body.get(1)?;
        let (files, at) = data_file_table(body, 2, transitive)?;
        let end = if height == 0 {
            self.version_leaf_entries(body, at, &files)?
        } else {
            self.version_interior_entries(body, at, &files, Some(height))?
        };
        (end == body.len()).then_some(())
    }

    fn btree_node(&mut self, body: &[u8], expected_height: u8, transitive: &[u8]) -> Option<()> {
        let height = *body.first()?;
        if height != expected_height {
            return None;
        }
        let (files, at) = data_file_table(body, 1, transitive)?;
        let (n, mut at) = count(body, at)?;
        let suffix_lengths;
        (_, at) = varints(body, at, n.saturating_sub(1))?; // key prefix lengths
        (suffix_lengths, at) = varints(body, at, n)?;
        if height > 0 {
            (_, at) = varints(body, at, n)?; // subtree common prefix lengths
        }
        at = skip(body, at, &suffix_lengths)?;
        if height > 0 {
            let (ids, offsets, lengths);
            (ids, at) = varints(body, at, n)?;
            (offsets, at) = varints(body, at, n)?;
            (lengths, at) = varints(body, at, n)?;
            (_, at) = varints(body, at, 3 * n)?; // statistics
            for i in 0..n {
                let file = files.get(usize::try_from(*ids.get(i)?).ok()?)?;
                let kind = NodeKind::Btree(height - 1);
                self.push(file, *offsets.get(i)?, *lengths.get(i)?, kind);
            }
            return (at == body.len()).then_some(());
        }
        let (value_lengths, kinds);
        (value_lengths, at) = varints(body, at, n)?;
        (kinds, at) = varints(body, at, n)?;
        let indirect = kinds.iter().filter(|&&k| k == 1).count();
        if kinds.iter().any(|&k| k > 1) {
            return None;
        }
        let (ids, offsets);
        (ids, at) = varints(body, at, indirect)?;
        (offsets, at) = varints(body, at, indirect)?;
        let mut direct = Vec::with_capacity(n - indirect);
        let mut k = 0usize;
        for (&length, &kind) in value_lengths.iter().zip(&kinds) {
            if kind == 0 {
                direct.push(length);
                continue;
            }
            let file = files.get(usize::try_from(*ids.get(k)?).ok()?)?;
            if file.path == self.target {
                self.values.push((*offsets.get(k)?, length));
            }
            k += 1;
        }
        (skip(body, at, &direct)? == body.len()).then_some(())
    }
}

/// The body of a node (manifest, version or B+tree node) whose magic is `magic`: its framing
/// checked, decompressed within [`MAX_DECODED`].
fn node_body(node: &[u8], magic: [u8; 4]) -> Option<Cow<'_, [u8]>> {
    if node.get(..4)? != magic || data::ocdbt(node).is_none() {
        return None;
    }
    let (_version, at) = varint(node, 12)?;
    let (compression, at) = varint(node, at)?;
    let body = node.get(at..node.len().checked_sub(4)?)?;
    match compression {
        0 => Some(Cow::Borrowed(body)),
        _ => {
            let decoder = zstd::stream::read::Decoder::with_buffer(body).ok()?;
            let mut out = Vec::new();
            decoder.take(MAX_DECODED + 1).read_to_end(&mut out).ok()?;
            (out.len() as u64 <= MAX_DECODED).then_some(Cow::Owned(out))
        }
    }
}

/// A data file table at `at` (prefix-compressed paths with base path lengths); paths are made
/// full with `transitive`.
fn data_file_table(body: &[u8], at: usize, transitive: &[u8]) -> Option<(Vec<DataFile>, usize)> {
    let (n, mut at) = count(body, at)?;
    let (prefix_lengths, suffix_lengths, base_lengths);
    (prefix_lengths, at) = varints(body, at, n.saturating_sub(1))?;
    (suffix_lengths, at) = varints(body, at, n)?;
    (base_lengths, at) = varints(body, at, n)?;
    let mut files = Vec::with_capacity(n);
    let mut previous: Vec<u8> = Vec::new();
    for i in 0..n {
        let prefix = match i.checked_sub(1) {
            Some(p) => usize::try_from(*prefix_lengths.get(p)?).ok()?,
            None => 0,
        };
        let suffix = usize::try_from(*suffix_lengths.get(i)?).ok()?;
        let mut path = previous.get(..prefix)?.to_vec();
        path.extend_from_slice(body.get(at..at.checked_add(suffix)?)?);
        at += suffix;
        if path.len() > 65_535 {
            return None;
        }
        let base = usize::try_from(*base_lengths.get(i)?).ok()?;
        let mut full = transitive.to_vec();
        full.extend_from_slice(&path);
        let mut next_transitive = transitive.to_vec();
        next_transitive.extend_from_slice(path.get(..base)?);
        files.push(DataFile {
            path: full,
            transitive: next_transitive,
        });
        previous = path;
    }
    Some((files, at))
}

/// A count of entries, bounded.
fn count(body: &[u8], at: usize) -> Option<(usize, usize)> {
    let (n, at) = varint(body, at)?;
    (n <= MAX_ENTRIES && n <= body.len() as u64)
        .then(|| usize::try_from(n).ok().map(|n| (n, at)))
        .flatten()
}

/// `n` varints from `at`.
fn varints(body: &[u8], mut at: usize, n: usize) -> Option<(Vec<u64>, usize)> {
    if n > body.len().saturating_sub(at) {
        return None; // each varint takes a byte at least
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (v, next) = varint(body, at)?;
        out.push(v);
        at = next;
    }
    Some((out, at))
}

/// Skips byte strings of the given lengths, one after another.
fn skip(body: &[u8], at: usize, lengths: &[u64]) -> Option<usize> {
    let total = lengths
        .iter()
        .try_fold(0u64, |sum, &l| sum.checked_add(l))?;
    let end = at.checked_add(usize::try_from(total).ok()?)?;
    (end <= body.len()).then_some(end)
}

/// One buffer that stands for every data file (the fuzz target's and the tests' source).
pub struct OneBuffer<'a>(pub &'a [u8]);

impl Source for OneBuffer<'_> {
    fn read(&mut self, _path: &[u8], offset: u64, length: u64) -> Option<Cow<'_, [u8]>> {
        let offset = usize::try_from(offset).ok()?;
        let length = usize::try_from(length).ok()?;
        self.0.read_at(offset, length).ok().map(Cow::Borrowed)
    }
}
