//! safetensors: the header is validated by the `safetensors` crate (what loaders check) and by
//! our own stricter reading on top ([`layout`]): duplicate keys, which a JSON map silently
//! collapses, a configurable header bound, metadata that must be a string map, and a data
//! region that the tensors tile exactly. Bytes after the last tensor, which loaders ignore,
//! are analysed as content of their own (an appended pickle is a pickle). Sharded checkpoints'
//! index files are checked in [`index`].
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

pub mod index;
mod layout;

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::model::rules::RuleId;
use crate::model::summary::ModelSummary;
use crate::scan::context::{Ctx, MemberKind, Origin};

/// Headers up to this size are also read by the `safetensors` crate, which holds the whole
/// parsed header in memory (hundreds of megabytes for a million tensors; real models' headers
/// are well under a megabyte). Our own reading, entry by entry, covers every header.
pub const CRATE_HEADER_LIMIT: u64 = 16 << 20;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let max_header = ctx.config().safetensors.max_header;
    let Some(header_len) = data
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    else {
        return ctx.report(
            RuleId::SafetensorsMalformedHeader,
            Some(0),
            "shorter than the 8-byte header length",
            None,
        );
    };
    if header_len > max_header {
        return ctx.report(
            RuleId::SafetensorsMalformedHeader,
            Some(0),
            format!("declares a {header_len}-byte header, over the limit of {max_header} bytes"),
            None,
        );
    }
    let header_end = usize::try_from(header_len).map_or(usize::MAX, |n| n.saturating_add(8));
    let Some(header) = data.get(8..header_end) else {
        return ctx.report(
            RuleId::SafetensorsMalformedHeader,
            Some(0),
            format!(
                "declares a {header_len}-byte header but the file holds {} bytes",
                data.len()
            ),
            None,
        );
    };
    let region = data.get(header_end..).unwrap_or_default();
    let layout = match layout::check(header, region.len() as u64) {
        Ok(layout) => layout,
        Err(e) => {
            return ctx.report(
                RuleId::SafetensorsMalformedHeader,
                Some(8),
                format!("the header is not a UTF-8 JSON object: {e}"),
                None,
            );
        }
    };
    if let Some(duplicate) = duplicate_key(header) {
        ctx.report(
            RuleId::SafetensorsBadLayout,
            Some(8),
            format!(
                "the header names `{duplicate}` twice; JSON readers keep one of the two silently"
            ),
            None,
        );
    }
    for (key, value) in &layout.metadata {
        ctx.extract(
            Origin::SafetensorsMetadata,
            &format!("__metadata__ `{key}`"),
            Some(8),
            value.as_bytes(),
        );
    }
    for (rule, problems) in [
        (RuleId::SafetensorsMalformedHeader, &layout.malformed),
        (RuleId::SafetensorsBadLayout, &layout.bad_layout),
    ] {
        for why in &problems.listed {
            ctx.report(rule, Some(8), why.clone(), None);
        }
        if problems.more > 0 {
            ctx.report(
                rule,
                Some(8),
                format!(
                    "{} more tensors have problems of this kind; they were not listed",
                    problems.more
                ),
                None,
            );
        }
    }
    // Bytes past the end of the last tensor: validate without them, then analyse them. Where
    // the last tensor ends is known only if every entry could be read.
    let end = usize::try_from(layout.data_end)
        .ok()
        .filter(|_| layout.malformed.is_empty())
        .and_then(|end| header_end.checked_add(end))
        .filter(|&end| end < data.len());
    let (tensors, trailing) = match end {
        Some(end) => data.split_at(end),
        None => (data, &[][..]),
    };
    // The crate's reading (what loaders refuse) is asked only when ours found nothing.
    let ours_clean = layout.malformed.is_empty() && layout.bad_layout.is_empty();
    if ours_clean
        && header_len <= CRATE_HEADER_LIMIT
        && let Err(e) = safetensors::SafeTensors::read_metadata(tensors)
    {
        ctx.report(
            RuleId::SafetensorsBadLayout,
            Some(8),
            format!("loaders refuse it: {e}"),
            None,
        );
    }
    if !trailing.is_empty() {
        let at = tensors.len();
        ctx.report(
            RuleId::SafetensorsTrailingData,
            Some(at as u64),
            format!(
                "{} bytes follow the last tensor; they were analysed as content of their own",
                trailing.len()
            ),
            None,
        );
        ctx.nested(&format!("trailing data@{at}"), trailing, MemberKind::File);
    }
    ctx.summarise(ModelSummary::Safetensors(layout.summary));
}

/// The first top-level key that occurs twice in the header's JSON object.
fn duplicate_key(header: &[u8]) -> Option<String> {
    struct Keys(Option<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl<'de> Visitor<'de> for KeyVisitor {
                type Value = Keys;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut seen = HashSet::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        if !seen.insert(key.clone()) {
                            return Ok(Keys(Some(key)));
                        }
                    }
                    Ok(Keys(None))
                }
            }
            deserializer.deserialize_map(KeyVisitor)
        }
    }
    serde_json::from_slice::<Keys>(header).ok()?.0
}

#[cfg(test)]
mod tests {
    use crate::testing::{codes, scan};

    fn file(header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    const TWO: &str = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}"#;

    #[test]
    fn a_valid_file_is_clean() {
        let report = scan(&file(TWO, &[0; 12]));
        assert_eq!(report.format, "safetensors");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn layout_lies_are_found() {
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        assert_eq!(codes(&scan(&file(overlap, &[0; 12]))), ["SFT002"]);
        let wrong_size = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        assert_eq!(codes(&scan(&file(wrong_size, &[0; 8]))), ["SFT002"]);
        let bad_dtype = r#"{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#;
        assert_eq!(codes(&scan(&file(bad_dtype, &[0; 8]))), ["SFT001"]);
        let twice = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
        assert!(codes(&scan(&file(twice, &[0; 1]))).contains(&"SFT002"));
        assert_eq!(codes(&scan(&file(r#"{"a": "#, &[]))), ["SFT001"]);
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(b'{');
        huge.push(b'}');
        assert_ne!(scan(&huge).verdict, crate::Verdict::Clean);
    }

    #[test]
    fn an_appended_pickle_is_analysed() {
        let mut data = file(TWO, &[0; 12]);
        data.extend_from_slice(
            b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.",
        );
        let report = scan(&data);
        assert_eq!(
            report.verdict,
            crate::Verdict::Malicious,
            "{:?}",
            report.findings
        );
        assert!(codes(&report).contains(&"SFT003"));
        assert!(codes(&report).contains(&"PKL001"));
    }

    #[test]
    fn strict_checks_name_the_problem() {
        let gap = r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}"#;
        let report = scan(&file(gap, &[0; 6]));
        assert_eq!(codes(&report), ["SFT002"]);
        assert!(report.findings[0].message.contains("belong to no tensor"));
        let metadata =
            r#"{"__metadata__":{"n":1},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
        assert_eq!(codes(&scan(&file(metadata, &[0; 1]))), ["SFT001"]);
        let out = r#"{"a":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}}"#;
        assert_eq!(codes(&scan(&file(out, &[0; 4]))), ["SFT002"]);
        let extra = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"y"}}"#;
        assert_eq!(codes(&scan(&file(extra, &[0; 1]))), ["SFT001"]);
    }

    #[test]
    fn totals_and_the_header_limit() {
        let report = scan(&file(TWO, &[0; 12]));
        let crate::model::summary::ModelSummary::Safetensors(summary) = &report.models[0].summary
        else {
            panic!("{:?}", report.models);
        };
        assert_eq!((summary.tensors, summary.parameters), (2, 6));
        assert_eq!(summary.dtypes["F32"].bytes, 8);
        let mut config = crate::Config::default();
        config.safetensors.max_header = 16;
        let limited = crate::testing::scan_with(&file(TWO, &[0; 12]), &config);
        assert_eq!(codes(&limited), ["SFT001"]);
    }

    #[test]
    fn shard_index_names_are_checked_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("model-00001.safetensors"),
            file(TWO, &[0; 12]),
        )
        .unwrap();
        let index = dir.path().join("model.safetensors.index.json");
        let write = |map: &str| {
            let text = format!(r#"{{"metadata":{{"total_size":12}},"weight_map":{map}}}"#);
            std::fs::write(&index, text).unwrap();
            let report = crate::scan::scan_file(&index, "i", &crate::Config::default());
            codes(&report)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert!(
            write(r#"{"a":"model-00001.safetensors","b":"model-00001.safetensors"}"#).is_empty()
        );
        assert_eq!(write(r#"{"a":"../../etc/passwd"}"#), ["SFT004"]);
        assert_eq!(write(r#"{"a":"/etc/passwd"}"#), ["SFT004"]);
        assert_eq!(write(r#"{"a":"model-00002.safetensors"}"#), ["SFT005"]);
    }
}
