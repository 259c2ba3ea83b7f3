//! Content-based format detection. The file name is never consulted to decide how bytes are
//! analysed; it is only compared with the content afterwards (`FMT002`).

use crate::formats::{onnx, pickle};
use crate::model::Format;

/// Zip local file header signature.
pub const ZIP_LOCAL: &[u8] = b"PK\x03\x04";
/// Zip end-of-central-directory signature.
pub const ZIP_END: &[u8] = b"PK\x05\x06";
const SEVEN_ZIP: &[u8] = b"7z\xbc\xaf\x27\x1c";
const NUMPY: &[u8] = b"\x93NUMPY";
const XZ: &[u8] = b"\xfd7zXZ\x00";
const ZSTD: &[u8] = b"\x28\xb5\x2f\xfd";
const GZIP: &[u8] = b"\x1f\x8b";
const LZ4_FRAME: &[u8] = b"\x04\x22\x4d\x18";
const GGUF: &[u8] = b"GGUF";
const HDF5: &[u8] = b"\x89HDF\r\n\x1a\n";

/// Skippable zstd frames (magic `0x184D2A50`–`0x184D2A5F`) stepped over, at most, before the
/// zstd frame.
const MAX_SKIPPABLE_FRAMES: usize = 16;

/// Whether `data` is zstd behind skippable frames: libzstd, `zstandard` and `zstd -d` skip
/// them and decompress the frame that follows (so must the scanner, or the payload hides
/// behind eight bytes of metadata).
fn zstd_after_skippable_frames(data: &[u8]) -> bool {
    let mut rest = data;
    for _ in 0..MAX_SKIPPABLE_FRAMES {
        match rest {
            [0x50..=0x5f, 0x2a, 0x4d, 0x18, a, b, c, d, tail @ ..] => {
                let size = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
                let Some(next) = tail.get(size..) else {
                    return false;
                };
                rest = next;
            }
            _ => return rest.starts_with(ZSTD) && rest.len() < data.len(),
        }
    }
    false
}

/// Detects the format of `data` from its content alone.
pub fn detect(data: &[u8]) -> Format {
    if data.is_empty() {
        return Format::Empty;
    }
    let magic: &[(&[u8], Format)] = &[
        (NUMPY, Format::Numpy),
        (ZIP_LOCAL, Format::Zip),
        (ZIP_END, Format::Zip),
        (SEVEN_ZIP, Format::SevenZip),
        (XZ, Format::Xz),
        (ZSTD, Format::Zstd),
        (GZIP, Format::Gzip),
        (LZ4_FRAME, Format::Lz4),
        (GGUF, Format::Gguf),
        (HDF5, Format::Hdf5),
    ];
    if let Some((_, format)) = magic.iter().find(|(m, _)| data.starts_with(m)) {
        return *format;
    }
    if zstd_after_skippable_frames(data) {
        return Format::Zstd;
    }
    if crate::formats::executable::kind(data).is_some() {
        return Format::Executable;
    }
    if crate::formats::gguf::is_legacy(data) {
        return Format::GgmlLegacy;
    }
    // Model formats whose first bytes a weaker sniff below could also take (a msgpack map's
    // first byte is a pickle opcode): each is checked whole or by a self-consistent header.
    if crate::formats::gbm::looks_like_catboost(data) {
        return Format::Catboost;
    }
    if crate::formats::executorch::looks_like_pte(data) {
        return Format::Executorch;
    }
    if crate::formats::gbm::looks_like_xgboost_ubj(data) {
        return Format::XgboostUbj;
    }
    if crate::formats::gbm::looks_like_xgboost_legacy(data) {
        return Format::XgboostLegacy;
    }
    if crate::formats::msgpack::looks_like_msgpack(data) {
        return Format::Msgpack;
    }
    // HDF5 behind a user block: the superblock at 512, 1024, 2048, … (before the pickle sniff,
    // so that a pickle in the user block is analysed as part of the HDF5 file).
    if crate::formats::hdf5::reader::find_superblock(data).is_some() {
        return Format::Hdf5;
    }
    if is_bzip2(data) {
        return Format::Bzip2;
    }
    if joblib_zfile_stream(data).is_some() {
        return Format::JoblibZfile;
    }
    if is_safetensors(data) {
        return Format::Safetensors;
    }
    if pickle::looks_like_pickle(data) {
        return Format::Pickle;
    }
    if is_tar(data) {
        return Format::Tar;
    }
    if has_zip_end_record(data) {
        return Format::Zip;
    }
    // Core ML's top-level model types (fields 200 and up) are fields no ONNX ModelProto has.
    if crate::formats::coreml::looks_like_coreml(data) {
        return Format::Coreml;
    }
    if onnx::looks_like_onnx(data) {
        return Format::Onnx;
    }
    if crate::formats::onnx::ort::looks_like_ort(data) {
        return Format::Ort;
    }
    if crate::formats::tflite::looks_like_tflite(data) {
        return Format::Tflite;
    }
    if crate::formats::tensorflow::detect(data).is_some() {
        return Format::Tensorflow;
    }
    match crate::formats::xmlmodel::detect(data) {
        Some(crate::formats::xmlmodel::Kind::Openvino) => return Format::Openvino,
        Some(crate::formats::xmlmodel::Kind::Pmml) => return Format::Pmml,
        None => {}
    }
    // Compressed streams are binary, so text is ruled out before the weaker magic checks below.
    if is_text(data) || crate::formats::json::is_wide_json(data) {
        return Format::Text;
    }
    // Data files recognised by their whole structure (a MAT-file's numbers) are not taken for
    // a compressed stream by its few header bytes.
    if crate::formats::data::recognise(data).is_some() {
        return Format::Unknown;
    }
    if is_lzma_alone(data) {
        return Format::Lzma;
    }
    if is_zlib(data) {
        return Format::Zlib;
    }
    // A msgpack map that does not read whole: analysed as msgpack, so that the break is named.
    if crate::formats::msgpack::starts_like_msgpack(data) {
        return Format::Msgpack;
    }
    Format::Unknown
}

/// An 8-byte little-endian header length that fits in the file, followed by a JSON object.
fn is_safetensors(data: &[u8]) -> bool {
    let Some(len) = data.get(..8) else {
        return false;
    };
    let len = u64::from_le_bytes([
        len[0], len[1], len[2], len[3], len[4], len[5], len[6], len[7],
    ]);
    len >= 2 && len <= (data.len() as u64).saturating_sub(8) && data.get(8) == Some(&b'{')
}

fn is_bzip2(data: &[u8]) -> bool {
    matches!(
        data,
        [
            b'B',
            b'Z',
            b'h',
            b'1'..=b'9',
            0x31,
            0x41,
            0x59,
            0x26,
            0x53,
            0x59,
            ..
        ]
    ) || matches!(
        data,
        [
            b'B',
            b'Z',
            b'h',
            b'1'..=b'9',
            0x17,
            0x72,
            0x45,
            0x38,
            0x50,
            0x90,
            ..
        ]
    )
}

/// POSIX and GNU tar both put `ustar` at offset 257 of the first header; Python's `tarfile`
/// (and so `torch.load`, which tries it first on a non-zip file) also takes an old V7 header,
/// recognised by its checksum.
fn is_tar(data: &[u8]) -> bool {
    data.get(257..262) == Some(b"ustar") || is_v7_tar(data)
}

/// A first block whose checksum field is what `tarfile` computes (signed or unsigned), with a
/// name, a size field and a mode field it can read: nothing but a tar header is that by chance.
fn is_v7_tar(data: &[u8]) -> bool {
    let Some(block) = data.get(..512) else {
        return false;
    };
    let octal = |field: &[u8]| {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        let text = field.get(..end).unwrap_or_default();
        let digits = text.iter().filter(|b| b.is_ascii_digit()).count();
        digits > 0 && text.iter().all(|&b| matches!(b, b'0'..=b'7' | b' '))
    };
    if block[0] == 0
        || !octal(&block[148..156])
        || !octal(&block[124..136])
        || !octal(&block[100..108])
    {
        return false;
    }
    let stated = block[148..156]
        .iter()
        .take_while(|&&b| b != 0)
        .filter(|b| b.is_ascii_digit())
        .fold(0u32, |n, &b| {
            n.saturating_mul(8).saturating_add(u32::from(b - b'0'))
        });
    let (mut unsigned, mut signed) = (256u32, 256i32);
    for (i, &b) in block.iter().enumerate() {
        if !(148..156).contains(&i) {
            unsigned += u32::from(b);
            signed += i32::from(b as i8);
        }
    }
    stated == unsigned || i64::from(stated) == i64::from(signed)
}

/// A content check for one format.
type Sniffer = dyn Fn(&[u8]) -> bool;

/// Formats other than `primary` that the same bytes also satisfy, each a reading some loader
/// could make: a pickle (`pickle.load`, `torch.load` of a non-zip), safetensors, a tar
/// (`torch.load` tries `tarfile` first), a zip found from its end (`zipfile`).
pub fn other_readings(data: &[u8], primary: Format) -> Vec<Format> {
    // A stream that starts with PERSID (`P`, as every zip's `PK` does) fails in `pickle.load`,
    // which has no persistent_load: that is no pickle reading.
    let pickle_reading = |data: &[u8]| !data.starts_with(b"P") && pickle::looks_like_pickle(data);
    let checks: [(Format, &Sniffer); 4] = [
        (Format::Pickle, &pickle_reading),
        (Format::Safetensors, &is_safetensors),
        (Format::Tar, &is_tar),
        (Format::Zip, &has_zip_end_record),
    ];
    checks
        .iter()
        .filter(|(format, check)| *format != primary && check(data))
        .map(|(format, _)| *format)
        .collect()
}

/// A zip whose first local header is not at offset 0 (data prepended, or a self-extractor) is
/// still found by its end-of-central-directory record, which sits in the last 64 KiB + 22 bytes.
/// The record must be self-consistent (its central directory lies before it), so four random
/// bytes in a tensor blob do not make a zip.
pub fn has_zip_end_record(data: &[u8]) -> bool {
    zip_end_record(data).is_some()
}

/// The last self-consistent end record, and the offset its central directory would start at
/// when computed back from it.
pub fn zip_end_record(data: &[u8]) -> Option<(usize, usize)> {
    let window = data.len().saturating_sub(65_535 + 22);
    let at = (window..data.len().saturating_sub(21))
        .rev()
        .find(|&at| is_zip_end_record(data, at))?;
    let size = data
        .get(at + 12..at + 16)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    Some((at, at.saturating_sub(size)))
}

/// The last self-consistent end record, and where the archive it closes starts as `zipfile`
/// computes it: the directory's start (computed back from the record) less the directory
/// offset the record states, i.e. the bytes prepended to the archive (0 when the stated offset
/// lies past that start).
pub fn zip_archive_bounds(data: &[u8]) -> Option<(usize, usize)> {
    let (at, dir_at) = zip_end_record(data)?;
    let stated = data
        .get(at + 16..at + 20)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    Some((at, dir_at.saturating_sub(stated)))
}

/// An end record some loader would follow to a central directory: one at its stated offset
/// (miniz), or where the record's size puts it (Python's `zipfile`, after the ZIP64 structures
/// when they sit right before the record), or an empty archive. Four random bytes in a tensor
/// blob do not make a zip; a count or comment field a loader ignores does not unmake one.
fn is_zip_end_record(data: &[u8], at: usize) -> bool {
    let Some(record) = data.get(at..at + 22) else {
        return false;
    };
    if &record[..4] != ZIP_END {
        return false;
    }
    let u16_at = |b: &[u8], i: usize| {
        b.get(i..i + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |b: &[u8], i: usize| {
        b.get(i..i + 8).map_or(0, |b| {
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        })
    };
    let entries = u16_at(record, 10);
    let (mut size, mut offset) = (u64::from(u32_at(record, 12)), u64::from(u32_at(record, 16)));
    let mut dir_end = at as u64;
    if let Some(locator) = at
        .checked_sub(20)
        .filter(|&l| data.get(l..l + 4) == Some(b"PK\x06\x07"))
    {
        let stated = usize::try_from(u64_at(data, locator + 8)).unwrap_or(usize::MAX);
        let adjacent = locator.checked_sub(56);
        let record64 = adjacent
            .filter(|&r| data.get(r..r + 4) == Some(b"PK\x06\x06"))
            .or(Some(stated).filter(|&r| data.get(r..r + 4) == Some(b"PK\x06\x06")));
        if let Some(r) = record64 {
            (size, offset) = (u64_at(data, r + 40), u64_at(data, r + 48));
            if Some(r) == adjacent {
                dir_end = r as u64;
            }
        }
    }
    let central = |p: u64| {
        usize::try_from(p)
            .ok()
            .and_then(|p| data.get(p..p.checked_add(4)?))
            == Some(b"PK\x01\x02")
    };
    (entries == 0 && size == 0) || central(offset) || dir_end.checked_sub(size).is_some_and(central)
}

/// LZMA-alone: a properties byte (lc/lp/pb, 0x5d for the defaults), a power-of-two-ish
/// dictionary size, then the uncompressed size (or all ones for "unknown").
fn is_lzma_alone(data: &[u8]) -> bool {
    let Some(header) = data.get(..13) else {
        return false;
    };
    let props = header[0];
    let dict = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    props < 9 * 5 * 5
        && dict >= 4096
        && (dict.is_power_of_two() || dict.checked_shr(dict.trailing_zeros()) == Some(3))
        && (header[5..13] == [0xff; 8]
            || u64::from_le_bytes(header[5..13].try_into().unwrap_or([0xff; 8])) < 1 << 48)
}

/// The zlib stream inside joblib's pre-0.10 compressed file (`ZF`, the data length as `0x…` hex
/// (with a trailing `L` from Python 2) padded with spaces, then zlib), or `None` if `data` is
/// not one.
pub fn joblib_zfile_stream(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(b"ZF0x")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = rest.get(digits..)?;
    let rest = rest.strip_prefix(b"L").unwrap_or(rest);
    let padding = rest.iter().take_while(|&&b| b == b' ').count();
    let header = data.len() - rest.len() + padding;
    // The field is padded to the width of hex(2**64): 19 bytes (20 with Python 2's `L`).
    let stream = data.get(header..)?;
    (digits > 0 && (21..=22).contains(&header) && is_zlib(stream)).then_some(stream)
}

fn is_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
                && flg & 0x20 == 0
        }
        _ => false,
    }
}

/// Text: no NUL byte and valid UTF-8 in the first 8 KiB (a character cut by the window is fine).
fn is_text(data: &[u8]) -> bool {
    let head = data.get(..8192).unwrap_or(data);
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() == 8192,
    }
}

/// `de ad be ef …` for messages.
pub fn hex_prefix(data: &[u8], n: usize) -> String {
    let head = data.get(..n).unwrap_or(data);
    let mut out: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    if data.len() > n {
        out.push("…".to_owned());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_formats() {
        assert_eq!(detect(b""), Format::Empty);
        assert_eq!(detect(b"\x93NUMPY\x01\x00"), Format::Numpy);
        assert_eq!(detect(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(
            detect(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
            Format::Zip
        );
        assert_eq!(detect(b"\x1f\x8b\x08\x00"), Format::Gzip);
        assert_eq!(detect(b"hello world\n"), Format::Text);
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Format::Unknown);
    }

    #[test]
    fn model_formats() {
        let mut st = 14u64.to_le_bytes().to_vec();
        st.extend_from_slice(br#"{"a":"b","c":1}"#);
        assert_eq!(detect(&st), Format::Safetensors);
        assert_eq!(detect(b"GGUF\x03\x00\x00\x00"), Format::Gguf);
        assert_eq!(detect(b"\x89HDF\r\n\x1a\n\x00\x00"), Format::Hdf5);
        let mut lying = u64::MAX.to_le_bytes().to_vec();
        lying.extend_from_slice(b"{}");
        assert_ne!(detect(&lying), Format::Safetensors);
    }

    #[test]
    fn zip_with_prepended_bytes_is_found_from_its_end() {
        let mut data = vec![0xAAu8; 100];
        data.extend_from_slice(b"PK\x05\x06");
        data.extend_from_slice(&[0u8; 18]);
        assert_eq!(detect(&data), Format::Zip);
    }

    #[test]
    fn lzma_alone_header_with_zero_dictionary_is_not_lzma() {
        assert!(!is_lzma_alone(&[
            0x5d, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]));
        assert!(is_lzma_alone(&[
            0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]));
    }

    #[test]
    fn joblib_zfile() {
        for header in [
            &b"ZF0x31f                "[..21],
            &b"ZF0x31fL                "[..22],
        ] {
            let mut data = header.to_vec();
            data.extend_from_slice(b"\x78\x5e\x6b\x60");
            assert_eq!(detect(&data), Format::JoblibZfile, "{header:?}");
        }
        assert_ne!(
            detect(b"ZF0x31f but then plain text follows here"),
            Format::JoblibZfile
        );
    }

    #[test]
    fn zlib_header() {
        assert!(is_zlib(b"\x78\x9c"));
        assert!(is_zlib(b"\x78\x01"));
        assert!(!is_zlib(b"xy"));
    }
}
