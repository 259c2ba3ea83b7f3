//! XGBoost's legacy binary model: what `Booster.save_model("*.bin" / "*.model")` wrote before
//! XGBoost 2.0 switched the default to JSON/UBJSON, what `save_raw(raw_format="deprecated")`
//! still wrote in 1.x, and what every release before 1.0 wrote. XGBoost up to 2.x still loads it
//! (`LearnerImpl::LoadModel(dmlc::Stream*)`, `src/learner.cc`):
//!
//! - an optional `binf` (1.x always writes it; 0.x files start with the parameters);
//! - `LearnerModelParamLegacy`, 136 bytes: `base_score` (f32), `num_feature` (u32), `num_class`,
//!   `contain_extra_attrs`, `contain_eval_metrics` (i32), `major_version`, `minor_version`,
//!   `num_target` (u32), `boost_from_average` (i32) and 25 reserved words (0.x: 29 reserved
//!   words after the first five fields, all zero);
//! - the objective and booster names, each a `dmlc::Stream` string (u64 length, bytes);
//! - the booster: `gbtree`/`dart` a `GBTreeModelParam` (160 bytes, `num_trees` first), then
//!   each tree (`TreeParam`, 148 bytes with `num_nodes` second and `num_deleted` third, then
//!   `num_nodes` nodes of 20 bytes and `num_nodes` statistics of 16 bytes), then `num_trees`
//!   i32 tree infos, and for `dart` the drop weights (u64 count, f32 each); `gblinear` a
//!   136-byte parameter block and its weights (u64 count, f32 each);
//! - when `contain_extra_attrs` is set, the attributes: a u64 count of (key, value) string
//!   pairs (1.x stores the objective's JSON configuration as the `objective` attribute).
//!
//! Nothing in it is code: XGBoost creates the objective and booster from fixed registries by
//! name and refuses any other. The walk checks every count and length against the bytes left
//! (little-endian, as x86 and ARM builds write), the names against those registries, and hands
//! the attribute strings to the signature scan.

use crate::bytes::{Cursor, ReadRef};
use crate::formats::walked::{Error, Strings, err};

/// The size of `LearnerModelParamLegacy`.
const PARAM: usize = 136;
/// The size of `GBTreeModelParam`.
const GBTREE_PARAM: usize = 160;
/// The size of `TreeParam`.
const TREE_PARAM: usize = 148;
/// A tree node and its statistics.
const NODE: usize = 20 + 16;
/// The size of `DeprecatedGBLinearModelParam`.
const GBLINEAR_PARAM: usize = 136;
/// The longest objective or booster name read (the longest real one has 22 bytes).
const MAX_NAME: u64 = 64;

/// Objectives XGBoost's registry has held (`XGBOOST_REGISTER_OBJECTIVE`, 0.72 to 2.x, the
/// `gpu:` aliases of 0.8x included).
pub const OBJECTIVES: &[&str] = &[
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:linear",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:gamma",
    "reg:tweedie",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "survival:cox",
    "survival:aft",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "gpu:reg:linear",
    "gpu:reg:logistic",
    "gpu:binary:logistic",
    "gpu:binary:logitraw",
];

/// Boosters XGBoost's registry holds.
pub const BOOSTERS: &[&str] = &["gbtree", "gblinear", "dart"];

/// What the header says: where the parameters start and the two names.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub binf: bool,
    pub objective: String,
    pub booster: String,
    pub num_feature: u32,
    pub num_class: i32,
    pub version: (u32, u32),
    extra_attrs: bool,
    /// Where the booster starts.
    booster_at: usize,
}

/// Reads one `dmlc::Stream` string of at most `max` bytes.
fn string<'a>(c: &mut Cursor<'a>, max: u64, what: &str) -> Result<&'a [u8], Error> {
    let at = c.pos();
    let len = c
        .u64_le()
        .map_err(|_| err(at, format!("the {what}'s length runs past the end")))?;
    if len > max {
        return Err(err(
            at,
            format!("the {what} is declared {len} bytes long, over the {max} bytes it can be"),
        ));
    }
    c.take(len as usize)
        .map_err(|_| err(at, format!("the {what} ({len} bytes) runs past the end")))
}

/// A name as XGBoost's registries spell them: lowercase letters, digits, `_` and `:`.
fn is_name(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b':'))
}

/// The header of a legacy binary model, when `data` has the structure of one: the parameter
/// block (flags 0 or 1, a version XGBoost has had), then an objective name with a `:` and a
/// booster name, both spelled as registry names. The names need not be known ones (the
/// analysis reports those that are not).
pub fn header(data: &[u8]) -> Option<Header> {
    let binf = data.starts_with(b"binf");
    let start = if binf { 4 } else { 0 };
    let param = data.read_at(start, PARAM).ok()?;
    let word = |i: usize| param.u32_le(i * 4).unwrap_or(u32::MAX);
    let (num_feature, num_class) = (word(1), word(2) as i32);
    let (extra_attrs, eval_metrics) = (word(3), word(4));
    let (major, minor) = (word(5), word(6));
    let reserved = param.get(40..).unwrap_or_default();
    let plausible = extra_attrs <= 1
        && eval_metrics <= 1
        && major <= 3
        && minor <= 200
        && (0..=1 << 24).contains(&num_class)
        && reserved.iter().all(|&b| b == 0)
        // A JSON or UBJSON model starts with `{`, which XGBoost reads as JSON.
        && data.get(start) != Some(&b'{');
    if !plausible {
        return None;
    }
    let mut c = Cursor::new(data, start + PARAM);
    let objective = string(&mut c, MAX_NAME, "objective name").ok()?;
    let booster = string(&mut c, MAX_NAME, "booster name").ok()?;
    if !is_name(objective) || !objective.contains(&b':') || !is_name(booster) {
        return None;
    }
    Some(Header {
        binf,
        objective: String::from_utf8_lossy(objective).into_owned(),
        booster: String::from_utf8_lossy(booster).into_owned(),
        num_feature,
        num_class,
        version: (major, minor),
        extra_attrs: extra_attrs != 0,
        booster_at: c.pos(),
    })
}

/// What the walk of a whole model found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Where the model ends (XGBoost reads no further).
    pub end: usize,
    pub trees: u64,
    /// Attribute keys and values, and the strings kept for the signature scan.
    pub attributes: u64,
    pub strings: Strings,
}

/// Walks the booster and the attributes after `header`. Stops at the first count or length
/// that does not fit, or at a name XGBoost's registries do not hold.
pub fn walk(data: &[u8], header: &Header, collect: bool) -> Result<Walk, Error> {
    let mut w = Walk::default();
    if !OBJECTIVES.contains(&header.objective.as_str()) {
        return Err(err(
            header.booster_at,
            format!(
                "the objective `{}` is none XGBoost registers; XGBoost refuses the model",
                header.objective
            ),
        ));
    }
    let mut c = Cursor::new(data, header.booster_at);
    match header.booster.as_str() {
        "gbtree" | "dart" => {
            w.trees = trees(data, &mut c)?;
            if header.booster == "dart" && w.trees != 0 {
                floats(&mut c, "drop weights")?;
            }
        }
        "gblinear" => {
            let at = c.pos();
            c.take(GBLINEAR_PARAM)
                .map_err(|_| err(at, "the linear booster's parameters run past the end"))?;
            floats(&mut c, "linear weights")?;
        }
        other => {
            return Err(err(
                header.booster_at,
                format!(
                    "the booster `{other}` is none XGBoost registers; XGBoost refuses the model"
                ),
            ));
        }
    }
    if header.extra_attrs {
        let at = c.pos();
        let count = c
            .u64_le()
            .map_err(|_| err(at, "the attribute count runs past the end"))?;
        // Each pair takes at least its two lengths.
        if count > (data.len().saturating_sub(c.pos()) / 16) as u64 {
            return Err(err(
                at,
                format!("{count} attributes are declared, more than the bytes left can hold"),
            ));
        }
        for _ in 0..count {
            for what in ["attribute key", "attribute value"] {
                let at = c.pos();
                let left = data.len().saturating_sub(at) as u64;
                let s = string(&mut c, left, what)?;
                if collect {
                    w.strings.note(at + 8, s);
                }
            }
        }
        w.attributes = count;
    }
    w.end = c.pos();
    Ok(w)
}

/// The trees of a `gbtree` booster; returns how many.
fn trees(data: &[u8], c: &mut Cursor<'_>) -> Result<u64, Error> {
    let at = c.pos();
    let param = c
        .take(GBTREE_PARAM)
        .map_err(|_| err(at, "the tree booster's parameters run past the end"))?;
    let num_trees = param.u32_le(0).unwrap_or(0) as i32;
    if num_trees < 0 {
        return Err(err(at, format!("the tree count is negative ({num_trees})")));
    }
    let num_trees = num_trees as usize;
    let left = data.len().saturating_sub(c.pos());
    if num_trees > left / (TREE_PARAM + NODE + 4) {
        return Err(err(
            at,
            format!("{num_trees} trees are declared, more than the bytes left can hold"),
        ));
    }
    for i in 0..num_trees {
        let at = c.pos();
        let tree = c
            .take(TREE_PARAM)
            .map_err(|_| err(at, format!("tree {i}'s parameters run past the end")))?;
        let nodes = tree.u32_le(4).unwrap_or(0) as i32;
        let deleted = tree.u32_le(8).unwrap_or(0) as i32;
        if nodes <= 0 || deleted < 0 || deleted >= nodes {
            return Err(err(
                at,
                format!("tree {i} declares {nodes} nodes, {deleted} of them deleted"),
            ));
        }
        let bytes = (nodes as usize).saturating_mul(NODE);
        c.take(bytes).map_err(|_| {
            err(
                at,
                format!("tree {i}'s {nodes} nodes ({bytes} bytes) run past the end"),
            )
        })?;
    }
    let at = c.pos();
    c.take(num_trees * 4)
        .map_err(|_| err(at, "the tree information runs past the end"))?;
    Ok(num_trees as u64)
}

/// A `std::vector<float>` as `dmlc::Stream` writes it.
fn floats(c: &mut Cursor<'_>, what: &str) -> Result<(), Error> {
    let at = c.pos();
    let count = c
        .u64_le()
        .map_err(|_| err(at, format!("the {what}' count runs past the end")))?;
    let bytes = count.saturating_mul(4);
    if bytes > usize::MAX as u64 {
        return Err(err(at, format!("{count} {what} are declared")));
    }
    c.take(bytes as usize).map_err(|_| {
        err(
            at,
            format!("{count} {what} ({bytes} bytes) run past the end"),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model as XGBoost 1.7 writes it: `binf`, parameters, names, `trees` one-node trees,
    /// the attributes.
    pub(crate) fn model(
        objective: &str,
        booster: &str,
        trees: u32,
        attrs: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut m = b"binf".to_vec();
        let words: [u32; 9] = [0x3f00_0000, 4, 0, 1, 0, 1, 7, 1, 1];
        for w in words {
            m.extend(w.to_le_bytes());
        }
        m.extend([0u8; 100]);
        for s in [objective, booster] {
            m.extend((s.len() as u64).to_le_bytes());
            m.extend(s.as_bytes());
        }
        if booster == "gblinear" {
            m.extend([0u8; GBLINEAR_PARAM]);
            m.extend(5u64.to_le_bytes());
            m.extend([0u8; 20]);
        } else {
            let mut p = [0u8; GBTREE_PARAM];
            p[..4].copy_from_slice(&trees.to_le_bytes());
            m.extend(p);
            for _ in 0..trees {
                let mut t = [0u8; TREE_PARAM];
                t[4..8].copy_from_slice(&1u32.to_le_bytes());
                m.extend(t);
                m.extend([0u8; NODE]);
            }
            m.extend(vec![0u8; trees as usize * 4]);
            if booster == "dart" && trees > 0 {
                m.extend(u64::from(trees).to_le_bytes());
                m.extend(vec![0u8; trees as usize * 4]);
            }
        }
        m.extend((attrs.len() as u64).to_le_bytes());
        for (k, v) in attrs {
            for s in [k, v] {
                m.extend((s.len() as u64).to_le_bytes());
                m.extend(s.as_bytes());
            }
        }
        m
    }

    #[test]
    fn models_walk_to_their_end() {
        for booster in ["gbtree", "dart", "gblinear"] {
            let m = model(
                "binary:logistic",
                booster,
                3,
                &[("objective", "{\"name\":\"binary:logistic\"}")],
            );
            let h = header(&m).unwrap();
            assert_eq!(h.booster, booster);
            let w = walk(&m, &h, true).unwrap();
            assert_eq!(w.end, m.len(), "{booster}");
            assert_eq!(w.attributes, 1);
            assert_eq!(w.strings.len(), 2);
        }
        // Without `binf`, as XGBoost before 1.0 wrote it.
        let m = model("reg:linear", "gbtree", 2, &[]);
        let h = header(&m[4..]).unwrap();
        assert!(!h.binf);
        assert_eq!(walk(&m[4..], &h, false).unwrap().end, m.len() - 4);
    }

    #[test]
    fn what_is_not_a_model_is_not_recognised() {
        assert!(header(b"").is_none());
        assert!(header(&[0u8; 200]).is_none());
        let m = model("binary:logistic", "gbtree", 1, &[]);
        let mut bad = m.clone();
        bad[4 + 12] = 7; // contain_extra_attrs
        assert!(header(&bad).is_none());
        let m = model("Binary Logistic", "gbtree", 1, &[]);
        assert!(header(&m).is_none());
    }

    #[test]
    fn counts_and_names_are_checked() {
        let m = model("binary:logistic", "gbtree", 3, &[]);
        let h = header(&m).unwrap();
        for cut in [h.booster_at + 10, m.len() - 9, m.len() - 1] {
            assert!(walk(&m[..cut], &h, false).is_err(), "{cut}");
        }
        let m = model("evil:objective", "gbtree", 1, &[]);
        let e = walk(&m, &header(&m).unwrap(), false).unwrap_err();
        assert!(e.why.contains("evil:objective"), "{}", e.why);
        let m = model("binary:logistic", "mybooster", 1, &[]);
        assert!(walk(&m, &header(&m).unwrap(), false).is_err());
        // A tree count no file could hold.
        let mut m = model("binary:logistic", "gbtree", 1, &[]);
        let at = header(&m).unwrap().booster_at;
        m[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        assert!(walk(&m, &header(&m).unwrap(), false).is_err());
    }
}
