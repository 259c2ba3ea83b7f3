//! NumPy `.npy` arrays: the magic, a version, a header that is a Python dict literal, then the
//! array's bytes. The header is read the way `numpy.lib.format.read_array_header` reads it:
//! `ast.literal_eval` semantics (`literal`, never evaluated, with the `L`-suffix fallback of
//! `_filter_header` for version 1 and 2), then `descr_to_dtype` (`dtype`). An object dtype
//! means the array bytes are a pickle (`np.load(allow_pickle=True)` unpickles them), which goes
//! to the pickle analyser; a numeric dtype means the bytes must be exactly
//! `prod(shape) × itemsize` long. A header or dtype the scanner cannot read is a finding, and
//! bytes after it that look like a pickle are analysed as one anyway (numpy may read the header
//! where the scanner could not).
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

mod dtype;
mod literal;

pub use dtype::{Dtype, from_str as dtype_from_str};
use literal::Lit;

use crate::bytes::ReadRef;
use crate::detect;
use crate::formats::pickle;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

const MAGIC: &[u8] = b"\x93NUMPY";

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let header = match parse(data) {
        Ok(header) => header,
        Err(why) => {
            ctx.report(
                RuleId::NumpyMalformed,
                Some(0),
                format!("the .npy header cannot be read: {why}"),
                None,
            );
            analyse_unreadable(data, ctx);
            return;
        }
    };
    let off = header.data_offset;
    let body = data.get(off..).unwrap_or_default();
    if header.dtype.object {
        if body.is_empty() {
            ctx.report(
                RuleId::NumpyMalformed,
                Some(off as u64),
                "the header declares an object array but no pickle follows it",
                None,
            );
            return;
        }
        // numpy.load(allow_pickle=True) unpickles everything after the header.
        pickle::analyse(body, &mut ctx.shifted(off as u64));
        return;
    }
    let expected = header
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(header.dtype.itemsize));
    let Some(expected) = expected else {
        ctx.report(
            RuleId::NumpyMalformed,
            Some(0),
            format!(
                "shape {:?} with {}-byte items overflows any real array size",
                header.shape, header.dtype.itemsize
            ),
            None,
        );
        return;
    };
    let actual = body.len() as u64;
    if actual < expected {
        ctx.report(
            RuleId::NumpyMalformed,
            Some(off as u64),
            format!(
                "shape {:?} of {}-byte items needs {expected} bytes but only {actual} follow the header",
                header.shape, header.dtype.itemsize
            ),
            None,
        );
    } else if actual > expected {
        let tail_at = off.saturating_add(usize::try_from(expected).unwrap_or(usize::MAX));
        let tail = data.get(tail_at..).unwrap_or_default();
        let format = detect::detect(tail);
        ctx.report(
            RuleId::NumpyMalformed,
            Some(tail_at as u64),
            format!(
                "{} bytes follow the array data ({}); numpy ignores them, other readers may not",
                actual - expected,
                if format == Format::Unknown {
                    "unrecognised content".to_owned()
                } else {
                    format!("{} content", format.name())
                }
            ),
            None,
        );
        if !matches!(format, Format::Unknown | Format::Empty) {
            ctx.nested(&format!("trailing@{tail_at}"), tail, MemberKind::Opaque);
        }
    }
}

/// A `.npy` array of little-endian floats, for the robustness probe: item size (2, 4 or 8),
/// shape, and where its bytes are. `None` for anything else or anything malformed.
pub fn float_array(data: &[u8]) -> Option<(u64, Vec<u64>, &[u8])> {
    let header = parse(data).ok()?;
    if !header.dtype.float_le {
        return None;
    }
    let len = header
        .shape
        .iter()
        .try_fold(header.dtype.itemsize, |acc, &d| acc.checked_mul(d))?;
    let end = header.data_offset.checked_add(usize::try_from(len).ok()?)?;
    Some((
        header.dtype.itemsize,
        header.shape,
        data.get(header.data_offset..end)?,
    ))
}

/// When the header cannot be read, numpy may still read it (or a later numpy may): if what
/// follows the header's declared end looks like a pickle, it is analysed as the object array
/// it would be.
fn analyse_unreadable(data: &[u8], ctx: &mut Ctx<'_>) {
    let Some(off) = header_end(data) else {
        return;
    };
    let body = data.get(off..).unwrap_or_default();
    if pickle::looks_like_pickle(body) {
        pickle::analyse(body, &mut ctx.shifted(off as u64));
    }
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    dtype: Dtype,
    shape: Vec<u64>,
    fortran_order: bool,
    /// Where the array bytes begin.
    data_offset: usize,
}

/// The header text and where the data begins.
fn header_text(data: &[u8]) -> Result<(String, u8, usize), String> {
    if !data.starts_with(MAGIC) {
        return Err("no \\x93NUMPY magic".to_owned());
    }
    let (Ok(major), Ok(minor)) = (data.read_u8(6), data.read_u8(7)) else {
        return Err("the version bytes are missing".to_owned());
    };
    let (len, start) = match (major, minor) {
        (1, 0) => (
            usize::from(
                data.u16_le(8)
                    .map_err(|_| "the header length is truncated")?,
            ),
            10usize,
        ),
        (2 | 3, 0) => {
            let len = data
                .u32_le(8)
                .map_err(|_| "the header length is truncated")?;
            (
                usize::try_from(len).map_err(|_| "the header length is too large")?,
                12,
            )
        }
        _ => return Err(format!("unknown format version {major}.{minor}")),
    };
    let raw = data.read_at(start, len).map_err(|_| {
        format!(
            "the header declares {len} bytes but only {} follow",
            data.len().saturating_sub(start)
        )
    })?;
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| "a version 3.0 header is not UTF-8")?
            .to_owned()
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    Ok((text, major, start + len))
}

/// Where the header ends, when its length fields can be read.
fn header_end(data: &[u8]) -> Option<usize> {
    header_text(data).ok().map(|(_, _, end)| end)
}

fn parse(data: &[u8]) -> Result<Header, String> {
    let (text, major, end) = header_text(data)?;
    let literal = match literal::literal_eval(&text, false) {
        Ok(lit) => lit,
        Err(_) if major <= 2 => literal::literal_eval(&text, true)?,
        Err(why) => return Err(why),
    };
    let Lit::Dict(entries) = literal else {
        return Err("the header is not a dict".to_owned());
    };
    let (mut descr, mut shape, mut fortran) = (None, None, None);
    for (key, value) in entries {
        let Lit::Str(key) = key else {
            return Err("a header key is not a string".to_owned());
        };
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "shape" => &mut shape,
            "fortran_order" => &mut fortran,
            other => return Err(format!("unexpected header key {other:?}")),
        };
        *slot = Some(value);
    }
    let (Some(descr), Some(shape), Some(fortran)) = (descr, shape, fortran) else {
        return Err("the header lacks descr, shape or fortran_order".to_owned());
    };
    let Lit::Bool(fortran_order) = fortran else {
        return Err("fortran_order is not True or False".to_owned());
    };
    Ok(Header {
        dtype: dtype::descr_to_dtype(&descr, 0)?,
        shape: dims(&shape)?,
        fortran_order,
        data_offset: end,
    })
}

/// `shape`: a tuple of ints (`True` and `False` are ints to Python).
fn dims(shape: &Lit) -> Result<Vec<u64>, String> {
    let Lit::Tuple(items) = shape else {
        return Err("shape is not a tuple".to_owned());
    };
    items
        .iter()
        .map(|d| match d.as_int() {
            Some(Some(n)) => u64::try_from(n).map_err(|_| format!("negative dimension {n}")),
            Some(None) => Err("a shape dimension is too large".to_owned()),
            None => Err("a shape dimension is not an integer".to_owned()),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test fixtures are small")]
mod tests {
    use super::*;
    use crate::testing::{codes, scan};

    fn npy(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    const HEADER: &str =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }                \n";

    #[test]
    fn parses_numpy_headers() {
        let h = parse(&npy(1, HEADER, &[0; 96])).unwrap();
        assert_eq!(h.shape, [3, 4]);
        assert_eq!(h.dtype.itemsize, 8);
        assert!(!h.dtype.object && !h.fortran_order);
        let h = parse(&npy(
            2,
            "{'descr': '|O', 'fortran_order': True, 'shape': (5,)}",
            b"",
        ))
        .unwrap();
        assert!(h.dtype.object && h.fortran_order);
        assert_eq!(h.shape, [5]);
        let h = parse(&npy(
            3,
            "{'descr': [('a', '<i4'), ('b', '<U3', (2,)), (('t', 'c'), '|O')], 'fortran_order': False, 'shape': ()}",
            b"",
        ))
        .unwrap();
        assert_eq!(h.dtype.itemsize, 4 + 24 + 8);
        assert!(h.dtype.object);
        assert!(h.shape.is_empty());
        // Python 2 long integers.
        let h = parse(&npy(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }",
            b"",
        ))
        .unwrap();
        assert_eq!(h.shape, [3, 4]);
        let h = parse(&npy(
            1,
            "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (0,), }",
            b"",
        ))
        .unwrap();
        assert_eq!(h.dtype.itemsize, 8);
    }

    #[test]
    fn rejects_what_numpy_rejects() {
        for header in [
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), 'x': 1}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 4)}",
            "{'descr': '<q9', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': [3]}",
            "{'descr': __import__('os'), 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} junk",
            "[1, 2]",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,",
            "((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
        ] {
            assert!(parse(&npy(1, header, b"")).is_err(), "{header}");
        }
        assert!(parse(b"\x93NUMPY\x04\x00\x00\x00").is_err());
        assert!(parse(b"\x93NUMPY\x01").is_err());
        assert!(parse(b"\x93NUMPY\x01\x00\xff\xff{}").is_err());
        assert!(parse(&npy(3, "{'descr': '\u{fffd}'}", b"")[..14]).is_err());
    }

    #[test]
    fn numeric_array_of_the_right_size_is_clean() {
        let report = scan(&npy(1, HEADER, &[0; 96]));
        assert_eq!(report.format, "numpy");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn short_array_is_malformed() {
        let report = scan(&npy(1, HEADER, &[0; 95]));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn malformed_header_is_reported() {
        let report = scan(&npy(1, "{'descr': 'zz'}", &[0; 8]));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn overflowing_shape_is_reported() {
        let header =
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }";
        let report = scan(&npy(1, header, &[0; 8]));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn trailing_pickle_is_analysed() {
        let mut body = vec![0u8; 96];
        body.extend_from_slice(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.");
        let report = scan(&npy(1, HEADER, &body));
        assert_eq!(codes(&report), ["NPY001"]);
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].format, "pickle");
        assert!(report.members[0].member.starts_with("trailing@"));
    }

    #[test]
    fn object_array_without_pickle_is_malformed() {
        let report = scan(&npy(
            1,
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
            b"",
        ));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn headers_numpy_reads_with_literal_eval() {
        for (header, object) in [
            (
                "{'descr': 'object', 'fortran_order': False, 'shape': (1,), }",
                true,
            ),
            (
                "{'descr': '|' 'O', 'fortran_order': False, 'shape': (1,), }",
                true,
            ),
            (
                "{ \"shape\" :( 1 , ) ,# rows\n 'fortran_order':False ,'descr' :\"|O\",}",
                true,
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'descr': '|O'}",
                true,
            ),
            (
                "{'descr': [('a', 'i4,O')], 'fortran_order': False, 'shape': (True,)}",
                true,
            ),
            (
                "{'descr': 'float64', 'fortran_order': False, 'shape': (0x1,)}",
                false,
            ),
        ] {
            let h = parse(&npy(1, header, b"")).unwrap_or_else(|e| panic!("{header}: {e}"));
            assert_eq!(h.dtype.object, object, "{header}");
        }
    }

    #[test]
    fn an_unreadable_header_before_a_pickle_still_gets_the_pickle_analysed() {
        let mut body =
            b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.".to_vec();
        body.extend_from_slice(b"");
        let report = scan(&npy(
            1,
            "{'descr': '\\N{LATIN CAPITAL LETTER O}', 'fortran_order': False, 'shape': (1,)}",
            &body,
        ));
        let found = codes(&report);
        assert!(
            found.contains(&"NPY001") && found.contains(&"PKL001"),
            "{found:?}"
        );
    }
}
