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
    } else if starts(b"ID3") {
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
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    let crc = !crc;
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
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
