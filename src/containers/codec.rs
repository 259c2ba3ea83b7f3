//! Every decompression in the scanner, bounded the same way: at most `max_member_bytes` of
//! output, at most `max_ratio` times the compressed size once past 1 MiB, and no allocation that
//! was not earned by output actually produced (declared sizes are never trusted). What was
//! produced before a limit or damage is kept, so that the caller analyses it: a limit degrades
//! the analysis, it never blinds it.
//!
//! [`decode`] picks the decoder for a [`Codec`]; [`read_capped`] bounds any reader (a 7z block,
//! a sparse tar member).

use std::io::{self, Read};

use crate::bytes::ReadRef;
use crate::config::ZoneLimits;
use crate::scan::deadline;
use crate::zone::spill::{Blob, BlobWriter};

/// Output below this size is never judged by its compression ratio.
const RATIO_GRACE: u64 = 1 << 20;

/// Bytes read from a decoder per call.
pub(crate) const CHUNK: usize = 64 << 10;

/// A compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Raw deflate (zip method 8).
    Deflate,
    /// Deflate64 (zip method 9).
    Deflate64,
    /// gzip, every member of a multi-member file.
    Gzip,
    /// A zlib stream (joblib's `zlib`, the stream inside joblib's old `ZF` files).
    Zlib,
    /// bzip2, every stream of a multi-stream file.
    Bzip2,
    /// xz.
    Xz,
    /// The legacy `.lzma` container (13-byte header).
    LzmaAlone,
    /// Zip's LZMA (method 14): a version/properties header, then the raw stream; `eos` when
    /// flag bit 1 says an end marker closes it, else `size` bytes are produced.
    ZipLzma { eos: bool, size: u64 },
    /// zstd.
    Zstd,
    /// An LZ4 frame (joblib's `lz4` compressor writes one, through `lz4.frame`).
    Lz4Frame,
}

/// Why decompression stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The stream ended where it should.
    Complete,
    /// A zone limit was reached; the output holds what came before it.
    Limit(String),
    /// The stream is truncated or corrupt; the output holds what came before the damage.
    Corrupt(String),
}

/// The output of a bounded decompression: on the heap, or in a mapped temporary file once the
/// artifact's memory budget is spent.
#[derive(Debug)]
pub(crate) struct Capped {
    pub data: Blob,
    pub stop: Stop,
}

impl Capped {
    fn corrupt(why: impl Into<String>) -> Capped {
        Capped {
            data: Blob::empty(),
            stop: Stop::Corrupt(why.into()),
        }
    }
}

/// Decompresses `data` as `codec` within the zone's limits.
pub(crate) fn decode(codec: Codec, data: &[u8], limits: &ZoneLimits) -> Capped {
    let packed = data.len() as u64;
    match codec {
        Codec::Deflate => read_capped(flate2::read::DeflateDecoder::new(data), packed, limits),
        Codec::Deflate64 => read_capped(deflate64::Deflate64Decoder::new(data), packed, limits),
        Codec::Gzip => read_capped(GzipMembers::new(data), packed, limits),
        Codec::Zlib => read_capped(flate2::read::ZlibDecoder::new(data), packed, limits),
        Codec::Bzip2 => read_capped(bzip2::read::MultiBzDecoder::new(data), packed, limits),
        Codec::Xz => read_capped(
            lzma_rust2::XzReader::new_mem_limit(data, true, decoder_memory_kb(limits)),
            packed,
            limits,
        ),
        Codec::LzmaAlone => match lzma_alone_reader(data, limits) {
            Ok(reader) => read_capped(reader, packed, limits),
            Err(why) => Capped::corrupt(why),
        },
        Codec::ZipLzma { eos, size } => zip_lzma(data, eos, size, limits),
        Codec::Zstd => match zstd::stream::read::Decoder::with_buffer(data) {
            Ok(decoder) => read_capped(decoder, packed, limits),
            Err(e) => Capped::corrupt(describe(&e)),
        },
        Codec::Lz4Frame => read_capped(lz4_flex::frame::FrameDecoder::new(data), packed, limits),
    }
}

/// Gzip members one after another, as Python's `gzip` (and so `pandas.read_pickle`, joblib)
/// reads them: zero bytes between members are padding and skipped, where flate2's
/// `MultiGzDecoder` stops with an error and would leave the members after the padding unread.
struct GzipMembers<'a> {
    rest: &'a [u8],
    current: Option<flate2::bufread::GzDecoder<&'a [u8]>>,
}

impl<'a> GzipMembers<'a> {
    fn new(data: &'a [u8]) -> Self {
        GzipMembers {
            rest: data,
            current: Some(flate2::bufread::GzDecoder::new(data)),
        }
    }
}

impl Read for GzipMembers<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(mut member) = self.current.take() {
                let n = member.read(buf)?;
                if n > 0 || buf.is_empty() {
                    self.current = Some(member);
                    return Ok(n);
                }
                self.rest = member.into_inner();
            }
            let padding = self.rest.iter().take_while(|&&b| b == 0).count();
            self.rest = &self.rest[padding..];
            if self.rest.is_empty() {
                return Ok(0);
            }
            self.current = Some(flate2::bufread::GzDecoder::new(self.rest));
        }
    }
}

/// Reads `reader` to its end within the zone's limits: at most `max_member_bytes` of output, and
/// once past 1 MiB at most `max_ratio` times `compressed_len`. Memory grows only with output
/// actually produced and only while the artifact's `max_memory` allows; past it the output goes
/// to a temporary file. A failure to keep more is reported as a limit, never an abort.
pub(crate) fn read_capped<R: Read>(reader: R, compressed_len: u64, limits: &ZoneLimits) -> Capped {
    read_capped_after(reader, compressed_len, 0, limits)
}

/// Like [`read_capped`] for one of several members that share `compressed_len` bytes of packed
/// data (a solid 7z block, a whole archive): `already` bytes unpacked from it before count
/// towards the ratio.
pub(crate) fn read_capped_after<R: Read>(
    mut reader: R,
    compressed_len: u64,
    already: u64,
    limits: &ZoneLimits,
) -> Capped {
    let ratio_bound = limits
        .max_ratio
        .saturating_mul(compressed_len.max(1))
        .max(RATIO_GRACE);
    let mut out = BlobWriter::new(limits.max_memory);
    let mut buf = vec![0u8; CHUNK];
    let stop = loop {
        if deadline::passed() {
            break Stop::Limit("the artifact's time budget ran out while unpacking".to_owned());
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break Stop::Complete,
            Ok(n) => n.min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Stop::Corrupt(describe(&e)),
        };
        let room = limits.max_member_bytes.saturating_sub(out.len());
        let take = usize::try_from(room).map_or(n, |room| n.min(room));
        if let Err(why) = out.write(buf.get(..take).unwrap_or_default()) {
            break Stop::Limit(why);
        }
        if take < n {
            break Stop::Limit(format!(
                "unpacks to more than {} bytes (the per-member limit)",
                limits.max_member_bytes
            ));
        }
        if out.len().saturating_add(already) > ratio_bound {
            break Stop::Limit(format!(
                "unpacks to more than {} times its compressed size of {compressed_len} bytes (the ratio limit)",
                limits.max_ratio
            ));
        }
    };
    match out.finish() {
        Ok(data) => Capped { data, stop },
        Err(why) => Capped {
            data: Blob::empty(),
            stop: Stop::Limit(why),
        },
    }
}

pub(crate) fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "the stream ends before its end marker (truncated)".to_owned()
        }
        _ => format!("the stream is corrupt: {e}"),
    }
}

/// Memory the LZMA-family decoders may use for their dictionaries, in KiB: never more than the
/// output they may produce (a dictionary larger than the output is never filled).
pub(crate) fn decoder_memory_kb(limits: &ZoneLimits) -> u32 {
    let kb = (limits.max_member_bytes / 1024).saturating_add(64 << 10);
    u32::try_from(kb).unwrap_or(u32::MAX)
}

/// Opens an LZMA-alone stream (13-byte header: properties, dictionary size, uncompressed size).
/// The declared dictionary is clamped to the output limit: LZMA never refers further back than
/// what it has produced, so a smaller buffer decodes the same bytes and a lying header cannot
/// make the scanner allocate gigabytes.
fn lzma_alone_reader<'a>(
    data: &'a [u8],
    limits: &ZoneLimits,
) -> Result<lzma_rust2::LzmaReader<&'a [u8]>, String> {
    let truncated = |_| "the LZMA header is truncated".to_owned();
    let props = data.read_u8(0).map_err(truncated)?;
    let dict = data.u32_le(1).map_err(truncated)?;
    let size = data.u64_le(5).map_err(truncated)?;
    let rest = data.read_from(13).map_err(truncated)?;
    let dict = clamp_dictionary(dict, limits);
    lzma_rust2::LzmaReader::new_with_props(rest, size, props, dict, None)
        .map_err(|e| format!("the LZMA header is invalid: {e}"))
}

/// The dictionary an LZMA decoder needs to produce at most `max_member_bytes` of output.
pub(crate) fn clamp_dictionary(dict: u32, limits: &ZoneLimits) -> u32 {
    let cap = u32::try_from(limits.max_member_bytes.saturating_add(1)).unwrap_or(u32::MAX);
    dict.min(cap).max(4096)
}

/// Zip's LZMA (method 14): a 4-byte version/properties-size header, the 5 LZMA properties, then
/// the raw stream.
fn zip_lzma(raw: &[u8], eos: bool, size: u64, limits: &ZoneLimits) -> Capped {
    let (Ok(props_len), Ok(props), Ok(dict)) = (raw.u16_le(2), raw.read_u8(4), raw.u32_le(5))
    else {
        return Capped::corrupt("the LZMA properties are truncated");
    };
    let Ok(stream) = raw.read_from(4 + usize::from(props_len)) else {
        return Capped::corrupt("the LZMA properties are truncated");
    };
    let size = if eos { u64::MAX } else { size };
    let dict = clamp_dictionary(dict, limits);
    match lzma_rust2::LzmaReader::new_with_props(stream, size, props, dict, None) {
        Ok(reader) => read_capped(reader, raw.len() as u64, limits),
        Err(e) => Capped::corrupt(format!("the LZMA properties are invalid: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn lz4_frames_decode_within_the_limits() {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        let plain: Vec<u8> = (0..4u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        enc.write_all(&plain).unwrap();
        let frame = enc.finish().unwrap();
        let limits = ZoneLimits::default();
        let out = decode(Codec::Lz4Frame, &frame, &limits);
        assert_eq!(out.stop, Stop::Complete);
        assert_eq!(out.data.len(), 4 << 20);
        let mut small = limits.clone();
        small.max_member_bytes = 1000;
        let out = decode(Codec::Lz4Frame, &frame, &small);
        assert!(matches!(out.stop, Stop::Limit(_)));
        assert_eq!(out.data.len(), 1000);
        let out = decode(Codec::Lz4Frame, &frame[..frame.len() / 2], &limits);
        assert!(matches!(out.stop, Stop::Corrupt(_)), "{:?}", out.stop);
    }
}
