//! Staged payloads: pickles carried as data. A byte or text value that is a pickle stream, or
//! decodes to one through base64, base85, hex or zlib/gzip/bzip2/xz/LZMA layers, is a second
//! stage that loading the outer file does not run but application code may (`pickle.loads` of
//! a value read from the state dict or the metadata). Each is analysed as a pickle of its own,
//! located by extending the member chain with one entry per decoding step
//! (`value@812` → `base64` → `zlib`), and its findings are capped at `suspicious`
//! ([`Ctx::staged`]); one PKL012 finding sums it up: `high`/suspicious when the carried pickle
//! does anything worse than clean, `info` when it only holds allowed content.
//!
//! Cost is kept off the common path. Every value is first judged by at most
//! [`PREFIX`] bytes: only a value whose decoded start could begin a pickle, a compressed stream
//! or another encoding layer is decoded in full. Full decodes are bounded per artifact in count
//! ([`MAX_DECODES`]) and bytes ([`MAX_DECODED_TOTAL`]), and no decoder reads more than
//! [`MAX_INPUT`] bytes or writes more than [`MAX_OUTPUT`] (decompression goes through
//! [`codec`], with the zone's ratio limit). Passing a budget is reported (PKL005), never silent.

use std::borrow::Cow;

use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD, HEXLOWER_PERMISSIVE};

use crate::containers::codec::{self, Codec, Stop};
use crate::formats::pickle::looks_like_pickle;
use crate::model::finding::Implies;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, Origin};

/// Values shorter than this carry no pickle worth a look (the shortest call is longer).
pub const MIN_LEN: usize = 12;
/// Encoded characters decoded to judge a value by its start.
const PREFIX: usize = 256;
/// Decoding layers followed from one value (`base64` → `zlib` → `hex` → `bz2`).
const MAX_STEPS: usize = 4;
/// Full decodes per artifact.
pub const MAX_DECODES: u32 = 256;
/// Bytes produced by full decodes per artifact.
pub const MAX_DECODED_TOTAL: u64 = 64 << 20;
/// Bytes one decoder reads.
pub const MAX_INPUT: usize = 16 << 20;
/// Bytes one decoder writes.
pub const MAX_OUTPUT: u64 = 16 << 20;

/// What staged-payload checks have cost in one artifact.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Values judged by their start.
    pub probes: u64,
    /// Values decoded in full (every layer counts).
    pub decodes: u32,
    /// Bytes those decodes produced.
    pub decoded_bytes: u64,
    /// Carried pickles found and analysed.
    pub carried: u32,
    /// A budget was passed and reported.
    pub exhausted: bool,
    /// Worst verdict the findings of the carried pickle being analysed implied before they
    /// were capped (see [`Ctx::staged`]).
    pub worst: Option<Implies>,
}

/// One decoding layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Hex,
    Base64,
    Base85,
    Zlib,
    Gzip,
    Bzip2,
    Xz,
    Lzma,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Hex => "hex",
            Step::Base64 => "base64",
            Step::Base85 => "base85",
            Step::Zlib => "zlib",
            Step::Gzip => "gzip",
            Step::Bzip2 => "bz2",
            Step::Xz => "xz",
            Step::Lzma => "lzma",
        }
    }

    fn codec(self) -> Option<Codec> {
        Some(match self {
            Step::Zlib => Codec::Zlib,
            Step::Gzip => Codec::Gzip,
            Step::Bzip2 => Codec::Bzip2,
            Step::Xz => Codec::Xz,
            Step::Lzma => Codec::LzmaAlone,
            Step::Hex | Step::Base64 | Step::Base85 => return None,
        })
    }
}

/// Whether a carried value is taken as a pickle stream: it sniffs as one, and either starts with
/// a PROTO header or ends with STOP (what `pickle.dumps` writes), so that chance matches in
/// random bytes are not believed.
pub fn is_carried_pickle(data: &[u8]) -> bool {
    if data.len() < 4 {
        return false;
    }
    let proto = matches!(data, [0x80, 0..=5, ..]);
    let stop = data.trim_ascii_end().last() == Some(&b'.');
    (proto || stop) && looks_like_pickle(data)
}

/// The compression format `data` starts with, if any.
fn compression(data: &[u8]) -> Option<Step> {
    match data {
        [0x78, flg, ..] if (0x7800u16 | u16::from(*flg)).is_multiple_of(31) => Some(Step::Zlib),
        [0x1f, 0x8b, 0x08, ..] => Some(Step::Gzip),
        [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Step::Bzip2),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Step::Xz),
        // LZMA-alone as Python's lzma.FORMAT_ALONE writes it: properties lc=3 lp=0 pb=2.
        [0x5d, 0x00, _, _, _, ..] if data.len() > 13 => Some(Step::Lzma),
        _ => None,
    }
}

/// Whether decoded bytes could start something worth decoding in full: a pickle (a PROTO
/// header, or a protocol 0/1 start that sniffs as a pickle, which for a cut-off start means one
/// that imports a known module), a compressed stream, or another layer of encoded text.
/// Identifiers and words decode to random bytes: one in a few thousand passes.
fn promising(start: &[u8]) -> bool {
    match start {
        [0x80, 0..=5, ..] => true,
        [b'(' | b'c' | b']' | b'}' | b'i', ..] => looks_like_pickle(start),
        _ if compression(start).is_some() => true,
        _ => start.len() >= 8 && start.iter().all(|&b| is_b85(b) || b == b'/' || b == b'\n'),
    }
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=')
}

const B85_ALPHABET: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

fn b85_value(b: u8) -> Option<u32> {
    B85_ALPHABET
        .iter()
        .position(|&c| c == b)
        .and_then(|i| u32::try_from(i).ok())
}

fn is_b85(b: u8) -> bool {
    b85_value(b).is_some()
}

/// Python's `base64.b85decode` (the alphabet of `b85encode`, the last group padded with `~`).
fn b85_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 5 * 4 + 4);
    for chunk in text.chunks(5) {
        let mut acc: u64 = 0;
        for i in 0..5 {
            let v = match chunk.get(i) {
                Some(&b) => b85_value(b)?,
                None => 84,
            };
            acc = acc * 85 + u64::from(v);
        }
        let word = u32::try_from(acc).ok()?.to_be_bytes();
        let keep = if chunk.len() == 5 { 4 } else { chunk.len() - 1 };
        out.extend_from_slice(word.get(..keep)?);
    }
    Some(out)
}

/// `text` without ASCII whitespace (base64 written by `encodebytes` breaks lines).
fn squeeze(text: &[u8]) -> Cow<'_, [u8]> {
    if text.iter().any(u8::is_ascii_whitespace) {
        Cow::Owned(
            text.iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Decodes `text` as base64 (standard or URL alphabet, padded or not).
fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    for encoding in [&BASE64, &BASE64URL] {
        if let Ok(out) = encoding.decode(text) {
            return Some(out);
        }
    }
    let bare = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"="));
    let bare = bare.unwrap_or(text);
    for encoding in [&BASE64_NOPAD, &BASE64URL_NOPAD] {
        if let Ok(out) = encoding.decode(bare) {
            return Some(out);
        }
    }
    None
}

/// The text decoders that could apply to `data`, judged by its first [`PREFIX`] characters.
fn text_steps(data: &[u8]) -> Vec<Step> {
    let head = data.get(..PREFIX.min(data.len())).unwrap_or(data);
    let head = squeeze(head);
    let mut steps = Vec::new();
    if head.len() < 8 {
        return steps;
    }
    if head.iter().all(u8::is_ascii_hexdigit) {
        let even = head.len() & !1;
        if let Ok(start) = HEXLOWER_PERMISSIVE.decode(head.get(..even).unwrap_or_default())
            && promising(&start)
        {
            steps.push(Step::Hex);
        }
    }
    if head.iter().all(|&b| is_b64(b)) {
        let quad = head.len().min(PREFIX) & !3;
        let part = head.get(..quad).unwrap_or_default();
        if let Some(start) =
            b64_decode(part.strip_suffix(b"=").unwrap_or(part)).or_else(|| b64_decode(part))
            && promising(&start)
        {
            steps.push(Step::Base64);
        }
    }
    if head.iter().all(|&b| is_b85(b)) {
        let five = head.len() - head.len() % 5;
        if let Some(start) = b85_decode(head.get(..five).unwrap_or_default())
            && promising(&start)
        {
            steps.push(Step::Base85);
        }
    }
    steps
}

/// Whether `data` is a pickle, or starts like something that could decode to one: judged by
/// its first bytes, without decoding the rest.
pub fn worth_decoding(data: &[u8]) -> bool {
    is_carried_pickle(data) || compression(data).is_some() || !text_steps(data).is_empty()
}

/// Looks for a pickle carried in `data` (a value the analyser at hand found): `anchor` names
/// the value in the member chain (`value@812`, `__metadata__ \`payload\``).
pub fn examine(ctx: &mut Ctx<'_>, anchor: &str, data: &[u8]) {
    if data.len() < MIN_LEN {
        return;
    }
    let mut chain = vec![anchor.to_owned()];
    follow(ctx, &mut chain, data, 0);
}

/// Whether an extract of `origin` is examined here: the pickle analyser examines its own
/// values, and whole files were already detected.
pub fn examines(origin: Origin) -> bool {
    !matches!(
        origin,
        Origin::PickleCallArg
            | Origin::PickleString
            | Origin::SmallFile
            | Origin::RawBytes
            | Origin::Documentation
    )
}

fn follow(ctx: &mut Ctx<'_>, chain: &mut Vec<String>, data: &[u8], steps: usize) {
    if is_carried_pickle(data) {
        ctx.staged(chain, data);
        return;
    }
    if steps >= MAX_STEPS {
        return;
    }
    let mut candidates: Vec<Step> = compression(data).into_iter().collect();
    candidates.extend(text_steps(data));
    for step in candidates {
        let Some(decoded) = decode(ctx, step, data, chain) else {
            continue;
        };
        chain.push(step.name().to_owned());
        follow(ctx, chain, &decoded, steps + 1);
        chain.pop();
    }
}

/// Decodes `data` in full as `step` within the budgets; `None` when it does not decode (or a
/// budget stops it, reported once).
fn decode(ctx: &mut Ctx<'_>, step: Step, data: &[u8], chain: &[String]) -> Option<Vec<u8>> {
    let budget = ctx.state().staged;
    let over = if budget.decodes >= MAX_DECODES {
        Some(format!(
            "more than {MAX_DECODES} values of this artifact needed decoding to look for staged pickles"
        ))
    } else if budget.decoded_bytes >= MAX_DECODED_TOTAL {
        Some(format!(
            "decoding values to look for staged pickles produced more than {MAX_DECODED_TOTAL} bytes"
        ))
    } else if data.len() > MAX_INPUT {
        Some(format!(
            "a {} value of {} bytes is larger than the {MAX_INPUT} bytes a decoder may read",
            step.name(),
            data.len()
        ))
    } else {
        None
    };
    if let Some(why) = over {
        limit(ctx, chain, why);
        return None;
    }
    ctx.state().staged.decodes += 1;
    let out = match step.codec() {
        Some(codec) => {
            let mut limits = ctx.config().zone.clone();
            limits.max_member_bytes = limits.max_member_bytes.min(MAX_OUTPUT);
            let capped = codec::decode(codec, data, &limits);
            match capped.stop {
                Stop::Complete => Some(capped.data.into_vec()),
                // A carried pickle cut at the limit is still analysed (its start runs first).
                Stop::Limit(why) => {
                    limit(ctx, chain, format!("a {} value {why}", step.name()));
                    (!capped.data.is_empty()).then(|| capped.data.into_vec())
                }
                Stop::Corrupt(_) => None,
            }
        }
        None => {
            let text = squeeze(data);
            match step {
                Step::Hex => HEXLOWER_PERMISSIVE.decode(&text).ok(),
                Step::Base64 => b64_decode(&text),
                _ => b85_decode(&text),
            }
        }
    };
    if let Some(out) = &out {
        let state = ctx.state();
        state.staged.decoded_bytes = state.staged.decoded_bytes.saturating_add(out.len() as u64);
    }
    out
}

fn limit(ctx: &mut Ctx<'_>, chain: &[String], why: String) {
    let state = ctx.state();
    if state.staged.exhausted {
        return;
    }
    state.staged.exhausted = true;
    ctx.report(
        RuleId::PickleLimitExceeded,
        None,
        format!(
            "{why} (at {}); later values were not checked for staged pickles",
            chain.join(" → ")
        ),
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base85_matches_python() {
        // Both strings from CPython's base64.b85encode.
        let cases: [(&[u8], &[u8]); 2] = [
            (
                b"NM&qnZ!92JZ*pv8As|#}Wgu~NX=7_3VsdYHZXjlFcm",
                b"Hello, World! The quick brown fox",
            ),
            (
                b"NM&qnZ!92JZ*pv8As|#}Wgu~NX=7_3VsdYHZXjlF",
                b"Hello, World! The quick brown fo",
            ),
        ];
        for (encoded, plain) in cases {
            assert_eq!(b85_decode(encoded).unwrap(), plain.to_vec());
        }
        assert!(b85_decode(b"\"ab").is_none());
    }

    #[test]
    fn prefixes_of_encoded_pickles_are_promising() {
        let pickle = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.";
        let b64 = BASE64.encode(pickle);
        assert_eq!(text_steps(b64.as_bytes()), vec![Step::Base64]);
        let hex = HEXLOWER_PERMISSIVE.encode(pickle);
        assert!(text_steps(hex.as_bytes()).contains(&Step::Hex));
        // Ordinary strings are judged by their start and never decoded.
        for s in [
            "encoder.layer.0.attention.self.query.weight",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "Apache License 2.0 applies to this model",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        ] {
            assert!(text_steps(s.as_bytes()).is_empty(), "{s}");
        }
    }

    #[test]
    fn names_and_words_are_not_decoded() {
        // Every module and attribute name of the pickle-names table, and its words: what
        // ordinary pickles are full of. None may cost a full decode.
        let table = include_str!("../../signatures/pickle-names.tsv");
        let mut judged = 0;
        for word in table
            .split(|c: char| c.is_whitespace() || c == '.')
            .filter(|w| w.len() >= MIN_LEN)
        {
            judged += 1;
            assert!(!worth_decoding(word.as_bytes()), "{word}");
        }
        assert!(judged > 1000, "{judged}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..600 {
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(match seed % 4 {
                    0 => B85_ALPHABET[(seed >> 8) as usize % 85],
                    1 => b"0123456789abcdef"[(seed >> 8) as usize % 16],
                    _ => (seed >> 8) as u8,
                });
            }
            let _ = worth_decoding(&data);
            let _ = b85_decode(&data);
            let _ = b64_decode(&data);
            let _ = compression(&data);
        }
    }

    #[test]
    fn carried_pickles_need_a_header_or_a_stop() {
        assert!(is_carried_pickle(
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
        ));
        assert!(is_carried_pickle(b"cposix\nsystem\n(S'echo hi'\ntR."));
        assert!(!is_carried_pickle(b"just some text."));
    }
}
