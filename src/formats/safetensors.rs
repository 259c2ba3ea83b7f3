//! safetensors: the header is validated by the `safetensors` crate (what loaders check) and by
//! our own stricter checks on top: duplicate keys, which a JSON map silently collapses, and
//! bytes after the last tensor, which loaders ignore and which are analysed as content of
//! their own (an appended pickle is a pickle).

use std::collections::HashSet;
use std::fmt;

use safetensors::SafeTensorError;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::engine::{Ctx, MemberKind};
use crate::rules::RuleId;

/// Largest header accepted, as the `safetensors` crate and loaders do (100 MB).
const MAX_HEADER: u64 = 100_000_000;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
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
    if header_len > MAX_HEADER {
        return ctx.report(
            RuleId::SafetensorsMalformedHeader,
            Some(0),
            format!("declares a {header_len}-byte header, over the {MAX_HEADER}-byte limit loaders enforce"),
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
    // Bytes past the end of the last tensor: validate without them, then analyse them.
    let end = tensors_end(header)
        .and_then(|end| header_end.checked_add(end))
        .filter(|&end| end < data.len());
    let (tensors, trailing) = match end {
        Some(end) => data.split_at(end),
        None => (data, &[][..]),
    };
    if let Err(e) = safetensors::SafeTensors::read_metadata(tensors) {
        let rule = match e {
            SafeTensorError::InvalidHeader(_)
            | SafeTensorError::InvalidHeaderDeserialization(_)
            | SafeTensorError::HeaderTooLarge
            | SafeTensorError::HeaderTooSmall
            | SafeTensorError::InvalidHeaderLength => RuleId::SafetensorsMalformedHeader,
            _ => RuleId::SafetensorsBadLayout,
        };
        ctx.report(rule, Some(8), format!("loaders refuse it: {e}"), None);
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
}

/// Where the tensor data ends (relative to the end of the header), when the header says.
fn tensors_end(header: &[u8]) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_slice(header).ok()?;
    value
        .as_object()?
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .filter_map(|(_, info)| info.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .and_then(|end| usize::try_from(end).ok())
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
}
