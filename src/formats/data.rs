//! Files that are data and nothing else: images, audio, documents, columnar tables, tokenizer
//! vocabularies and training logs that sit beside models in every repository. No model loader
//! runs them, so they are named (FMT007, info) instead of being "unknown binary" (FMT001).
//! Each is recognised by its own structure, strictly enough that a payload in another format
//! cannot pass for one by a two-byte prefix; a file that matches nothing stays unknown.

use crate::bytes::ReadRef;
use crate::bytes::varint;

/// What kind of data file `data` is, if it is one.
pub fn recognise(data: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| data.starts_with(magic);
    let riff = |kind: &[u8]| starts(b"RIFF") && data.get(8..12) == Some(kind);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("PNG image")
    } else if starts(b"\xff\xd8\xff") {
        Some("JPEG image")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("GIF image")
    } else if riff(b"WEBP") {
        Some("WebP image")
    } else if riff(b"WAVE") {
        Some("WAV audio")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("TIFF image")
    } else if starts(b"BM") && data.u32_le(2).is_ok_and(|n| n as usize == data.len()) {
        Some("BMP image")
    } else if starts(b"fLaC") {
        Some("FLAC audio")
    } else if starts(b"OggS") {
        Some("Ogg audio")
    } else if starts(b"ID3") || is_mpeg_audio(data) {
        Some("MP3 audio")
    } else if starts(b"%PDF-") {
        Some("PDF document")
    } else if starts(b"PAR1") && data.ends_with(b"PAR1") && data.len() >= 12 {
        Some("Parquet table")
    } else if starts(b"ARROW1") && data.ends_with(b"ARROW1") {
        Some("Arrow/Feather table")
    } else if is_arrow_stream(data) {
        Some("Arrow stream (Hugging Face datasets)")
    } else if is_tfrecord(data) {
        Some("TFRecord (TensorBoard events, TF data)")
    } else if is_sentencepiece(data) {
        Some("SentencePiece tokenizer model")
    } else if is_mat_v5(data) {
        Some("MATLAB MAT-file (v5)")
    } else if is_mat_v4(data) {
        Some("MATLAB MAT-file (v4)")
    } else if is_word2vec_binary(data) {
        Some("word2vec binary vectors")
    } else if let Some(kind) = ocdbt(data) {
        Some(kind)
    } else if let Some(kind) = crate::formats::coreml::package::blob_storage(data) {
        Some(kind)
    } else {
        None
    }
}

/// Arrow's streaming format: a continuation marker and a schema message first, the
/// end-of-stream marker last.
fn is_arrow_stream(data: &[u8]) -> bool {
    const CONTINUATION: &[u8] = b"\xff\xff\xff\xff";
    data.starts_with(CONTINUATION)
        && data
            .u32_le(4)
            .is_ok_and(|len| len > 0 && (len as usize).saturating_add(8) <= data.len())
        && data.ends_with(b"\xff\xff\xff\xff\x00\x00\x00\x00")
}

/// TFRecord: each record is a 64-bit length, the masked CRC-32C of those 8 bytes, the data
/// and its masked CRC. The first record's length checksum is proof enough.
fn is_tfrecord(data: &[u8]) -> bool {
    let (Some(length), Ok(declared), Ok(crc)) = (data.get(..8), data.u64_le(0), data.u32_le(8))
    else {
        return false;
    };
    declared.saturating_add(16) <= data.len() as u64 && masked_crc32c(length) == crc
}

fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli), table-driven.
fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &byte in bytes {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// OCDBT files (TensorStore's key-value store, the default format of Orbax checkpoints: Flax,
/// MaxText, Gemma-JAX releases) that frame themselves: a manifest (`manifest.ocdbt`), a
/// version tree node or a B-tree node (the `d/<id>` data files of a small checkpoint, values
/// inline). Each is a big-endian magic, the file's own length (little-endian), a version, a
/// compression format (none or zstd) and the body, with the CRC-32C of everything before it
/// last; all of it must hold. Files over the limit are not checksummed and not recognised.
pub(crate) fn ocdbt(data: &[u8]) -> Option<&'static str> {
    const MAX: usize = 64 << 20;
    let kind = match data.get(..4)? {
        [0x0c, 0xdb, 0x3a, 0x2a] => "OCDBT manifest (Orbax/TensorStore checkpoint)",
        [0x0c, 0xdb, 0x12, 0x34] => "OCDBT version tree node (Orbax/TensorStore checkpoint)",
        [0x0c, 0xdb, 0x20, 0xde] => "OCDBT B-tree node (Orbax/TensorStore checkpoint)",
        _ => return None,
    };
    if data.len() > MAX || data.len() < 18 || data.u64_le(4).ok()? != data.len() as u64 {
        return None;
    }
    let (version, at) = varint(data, 12)?;
    let (compression, at) = varint(data, at)?;
    let body_ok = match compression {
        0 => true,
        1 => data.get(at..)?.starts_with(b"\x28\xb5\x2f\xfd"),
        _ => false,
    };
    let (head, crc) = data.split_at(data.len() - 4);
    (version == 0 && body_ok && crc32c(head) == crc.u32_le(0).ok()?).then_some(kind)
}

/// A SentencePiece `ModelProto`: it starts with its pieces (field 1), each a message of a UTF-8
/// piece (field 1), a float score (field 2) and a type (field 3). The first pieces are checked.
fn is_sentencepiece(data: &[u8]) -> bool {
    let mut at = 0;
    for _ in 0..3 {
        let Some((len, start)) = (data.get(at) == Some(&0x0a))
            .then(|| length(data, at + 1))
            .flatten()
        else {
            return false;
        };
        let Some(piece) = start.checked_add(len).and_then(|end| data.get(start..end)) else {
            return false;
        };
        if !is_piece(piece) {
            return false;
        }
        at = start + len;
    }
    true
}

fn is_piece(piece: &[u8]) -> bool {
    let mut at = 0;
    let mut text = false;
    while at < piece.len() {
        match piece.get(at) {
            Some(0x0a) => {
                let Some((len, start)) = length(piece, at + 1) else {
                    return false;
                };
                let Some(body) = start.checked_add(len).and_then(|end| piece.get(start..end))
                else {
                    return false;
                };
                if std::str::from_utf8(body).is_err() {
                    return false;
                }
                text = true;
                at = start + len;
            }
            Some(0x15) => at += 5,
            Some(0x18) => match varint(piece, at + 1) {
                Some((_, next)) => at = next,
                None => return false,
            },
            _ => return false,
        }
    }
    text && at == piece.len()
}

/// MPEG audio without an ID3 tag: frames from the first byte, each header's sync bits, version,
/// layer, bitrate and sample rate valid, and the next header where this frame's length puts it;
/// three frames in a row (or frames up to the end of a shorter file) are required.
fn is_mpeg_audio(data: &[u8]) -> bool {
    let mut at = 0;
    for _ in 0..3 {
        let Some(len) = data.get(at..at + 4).and_then(mpeg_frame_len) else {
            return false;
        };
        at += len;
        if at == data.len() {
            return true;
        }
    }
    true
}

/// The length of the MPEG audio frame whose header is `h`, if it is a valid header.
fn mpeg_frame_len(h: &[u8]) -> Option<usize> {
    const L1: [u32; 15] = [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ];
    const L2: [u32; 15] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ];
    const L3: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2L1: [u32; 15] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ];
    const V2L23: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let (b1, b2) = (*h.get(1)?, *h.get(2)?);
    if *h.first()? != 0xff || b1 & 0xe0 != 0xe0 {
        return None;
    }
    let version = (b1 >> 3) & 3; // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
    let layer = (b1 >> 1) & 3; // 1: III, 2: II, 3: I
    let bitrate = usize::from(b2 >> 4);
    let rate = usize::from((b2 >> 2) & 3);
    if version == 1 || layer == 0 || bitrate == 0 || bitrate == 15 || rate == 3 {
        return None;
    }
    let kbps = match (version == 3, layer) {
        (true, 3) => L1,
        (true, 2) => L2,
        (true, _) => L3,
        (false, 3) => V2L1,
        (false, _) => V2L23,
    }[bitrate];
    let hz = [44_100u32, 48_000, 32_000][rate]
        >> match version {
            3 => 0,
            2 => 1,
            _ => 2,
        };
    let padding = u32::from((b2 >> 1) & 1);
    let len = match layer {
        3 => (12 * kbps * 1000 / hz + padding) * 4,
        1 if version != 3 => 72 * kbps * 1000 / hz + padding,
        _ => 144 * kbps * 1000 / hz + padding,
    };
    (len >= 4).then_some(len as usize)
}

/// A MATLAB v5 MAT-file (`scipy.io.savemat`, MATLAB `save -v7`): the 128-byte header (text
/// starting `MATLAB 5.0 MAT-file`, version 0x0100 and the endian indicator), then data
/// elements whose tags (a known type, a size inside the file) cover the rest exactly, each
/// padded to 8 bytes; compressed elements hold a zlib stream.
fn is_mat_v5(data: &[u8]) -> bool {
    if !data.starts_with(b"MATLAB 5.0 MAT-file") {
        return false;
    }
    let big = match data.get(126..128) {
        Some(b"IM") => false,
        Some(b"MI") => true,
        _ => return false,
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let version = data
        .get(124..126)
        .map(|v| if big { [v[0], v[1]] } else { [v[1], v[0]] });
    if version != Some([0x01, 0x00]) {
        return false;
    }
    let mut at = 128usize;
    let mut elements = 0;
    while at < data.len() {
        let (Some(kind), Some(size)) = (u32_at(at), u32_at(at + 4)) else {
            return false;
        };
        if kind >> 16 != 0 {
            // A small data element: size (at most 4) and type in one word, then its data.
            if kind >> 16 > 4 || !(1..=18).contains(&(kind & 0xffff)) {
                return false;
            }
            at += 8;
        } else {
            if !(1..=18).contains(&kind) {
                return false;
            }
            let Some(end) = (at + 8)
                .checked_add(size as usize)
                .filter(|&e| e <= data.len())
            else {
                return false;
            };
            if kind == 15 && data.get(at + 8) != Some(&0x78) {
                return false;
            }
            // Compressed elements are not padded (scipy, MATLAB); the others are.
            at = if kind == 15 {
                end
            } else {
                end.next_multiple_of(8).min(data.len())
            };
        }
        elements += 1;
    }
    elements > 0 && at == data.len()
}

/// A MATLAB v4 MAT-file (`scipy.io.savemat(format="4")`): matrices back to back, each a
/// 20-byte header (type `MOPT` with a known byte order, precision and class; rows, columns,
/// an imaginary flag, a name length), a NUL-terminated name and exactly the data those
/// declare, covering the file.
fn is_mat_v4(data: &[u8]) -> bool {
    let mut at = 0usize;
    let mut matrices = 0;
    while at < data.len() {
        let Some(header) = data.get(at..at + 20) else {
            return false;
        };
        let word = |i: usize, big: bool| {
            let b = [header[i], header[i + 1], header[i + 2], header[i + 3]];
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let big = word(0, false) >= 1000;
        let [kind, rows, cols, imag, name_len] = [0, 4, 8, 12, 16].map(|i| word(i, big));
        let (order, o, precision, class) =
            (kind / 1000, kind / 100 % 10, kind / 10 % 10, kind % 10);
        if order != u32::from(big) || o != 0 || precision > 5 || class > 2 || imag > 1 {
            return false;
        }
        if name_len == 0 || name_len > 4096 {
            return false;
        }
        let element = [8u64, 4, 4, 2, 2, 1][precision as usize];
        let Some(size) = u64::from(rows)
            .checked_mul(u64::from(cols))
            .and_then(|n| n.checked_mul(element * (1 + u64::from(imag))))
            .and_then(|n| usize::try_from(n).ok())
        else {
            return false;
        };
        let name_at = at + 20;
        let name_end = name_at + name_len as usize;
        if data.get(name_end - 1) != Some(&0) {
            return false;
        }
        match name_end.checked_add(size).filter(|&e| e <= data.len()) {
            Some(end) => at = end,
            None => return false,
        }
        matrices += 1;
    }
    matrices > 0
}

/// Word vectors in word2vec's binary format (`KeyedVectors.save_word2vec_format(binary=True)`,
/// the original C tool): an ASCII header `<count> <dimensions>\n`, then `count` records of a word,
/// a space and `dimensions` little-endian float32s (optionally a newline), covering the file.
fn is_word2vec_binary(data: &[u8]) -> bool {
    let Some(newline) = data.iter().take(64).position(|&b| b == b'\n') else {
        return false;
    };
    let Some((count, dims)) = std::str::from_utf8(&data[..newline])
        .ok()
        .and_then(|h| h.trim_end_matches('\r').split_once(' '))
        .and_then(|(n, d)| Some((n.parse::<u64>().ok()?, d.trim().parse::<u64>().ok()?)))
    else {
        return false;
    };
    let Some(vector) = dims.checked_mul(4).filter(|&v| v > 0 && v <= 1 << 20) else {
        return false;
    };
    // Every record holds at least a one-byte word, a space and its vector.
    if count == 0 || count.saturating_mul(vector + 2) > data.len() as u64 {
        return false;
    }
    let vector = vector as usize;
    let mut at = newline + 1;
    for _ in 0..count {
        if data.get(at) == Some(&b'\n') {
            at += 1;
        }
        let Some(space) = data
            .get(at..)
            .and_then(|rest| rest.iter().take(1024).position(|&b| b == b' '))
        else {
            return false;
        };
        if space == 0 || data[at..at + space].contains(&b'\n') {
            return false;
        }
        at += space + 1 + vector;
        if at > data.len() {
            return false;
        }
    }
    data.get(at..)
        .is_some_and(|rest| rest.is_empty() || rest == b"\n")
}

/// A protobuf length prefix at `at`: the length and where the bytes start.
fn length(data: &[u8], at: usize) -> Option<(usize, usize)> {
    let (len, start) = varint(data, at)?;
    Some((usize::try_from(len).ok()?, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_are_named_and_payloads_are_not() {
        assert_eq!(
            recognise(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("PNG image")
        );
        assert_eq!(recognise(b"PAR1....PAR1"), Some("Parquet table"));
        // A TFRecord whose first record holds 3 bytes.
        let mut record = 3u64.to_le_bytes().to_vec();
        let crc = masked_crc32c(&record);
        record.extend(crc.to_le_bytes());
        record.extend(b"abc\0\0\0\0");
        assert_eq!(
            recognise(&record),
            Some("TFRecord (TensorBoard events, TF data)")
        );
        record[8] ^= 1;
        assert_eq!(recognise(&record), None);
        // Three SentencePiece pieces: "<unk>" (score 0, type 2), "▁a", "b".
        let mut sp = Vec::new();
        for piece in ["<unk>", "\u{2581}a", "b"] {
            let mut body = vec![0x0a, piece.len() as u8];
            body.extend(piece.as_bytes());
            body.extend([0x15, 0, 0, 0, 0, 0x18, 2]);
            sp.push(0x0a);
            sp.push(body.len() as u8);
            sp.extend(body);
        }
        assert_eq!(recognise(&sp), Some("SentencePiece tokenizer model"));
        // A pickle, a two-byte "BM" prefix and random bytes are not data files.
        assert_eq!(recognise(b"\x80\x04\x95"), None);
        assert_eq!(recognise(b"BM\x05\0\0\0rest-of-it"), None);
        assert_eq!(recognise(&[0x0a, 0x05, 1, 2, 3, 4, 5]), None);
    }
}
