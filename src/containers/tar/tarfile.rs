//! A tar archive as CPython's `tarfile` reads it (`TarFile.next`, `TarInfo.frombuf`,
//! `_proc_member`, `_proc_builtin`, `_proc_gnulong`, `_proc_pax`, `_proc_sparse`, `nti`), which
//! is how `torch.load` opens legacy tar checkpoints and how most Python tooling unpacks
//! archives. Where it differs from the `tar` crate, attacks hide:
//!
//! * Only regular files (`0`, `\0`, `7`, `S`) and unknown types have their size skipped as
//!   data. A directory, link, device or FIFO header with a non-zero size is followed directly by
//!   the next header, so the "data" of a directory entry is read as more members.
//! * A `\0`-typed entry whose name ends in `/` is a directory (V7 tar), so its size is not
//!   skipped either.
//! * Numbers are octal read with Python's `int(s.strip() or "0", 8)` (sign, underscores, `0o`)
//!   or base-256; the checksum may be signed or unsigned.
//! * The first all-zero block ends the archive; a header that fails its checksum ends it
//!   quietly (an error only at offset 0).
//! * pax `size` and `path` records override the header; GNU long names come from `L` blocks;
//!   the ustar `prefix` is prepended to any non-GNU header's name.

use crate::bytes::ReadRef;

const BLOCK: usize = 512;

/// One member as `tarfile` lists it.
#[derive(Debug, Clone)]
pub(super) struct PyMember {
    pub name: Vec<u8>,
    /// Where its (first) header is.
    pub header_at: usize,
    pub kind: PyKind,
}

#[derive(Debug, Clone)]
pub(super) enum PyKind {
    /// Data `extractfile` would return: `len` bytes at `start` (cut at the end of the file).
    Data { start: usize, len: usize },
    /// A sparse member: (offset, length) chunks stored one after another from `start`.
    Sparse {
        start: usize,
        map: Vec<(u64, u64)>,
        size: u64,
    },
    /// A directory, link, device or FIFO: no data.
    NoData,
}

/// The members and, when reading stopped with an error, why.
#[derive(Debug, Default)]
pub(super) struct PyReading {
    pub members: Vec<PyMember>,
    pub problem: Option<String>,
}

/// `nts`: up to the first NUL.
fn nts(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field.get(..end).unwrap_or_default()
}

/// `nti`: base-256 when the first byte is 0o200 or 0o377, else Python's `int(text, 8)`.
fn nti(field: &[u8]) -> Option<i128> {
    match field.first() {
        Some(&first @ (0o200 | 0o377)) => {
            let mut n: i128 = 0;
            for &b in field.get(1..)? {
                n = n.checked_mul(256)?.checked_add(i128::from(b))?;
            }
            if first == 0o377 {
                let span = 256i128.checked_pow(u32::try_from(field.len() - 1).ok()?)?;
                n -= span;
            }
            Some(n)
        }
        _ => python_int(nts(field), 8),
    }
}

/// `int(text.strip() or "0", base)` for ASCII text.
pub(super) fn python_int(text: &[u8], base: u32) -> Option<i128> {
    if !text.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let text = text.trim_matches(|c: char| {
        c.is_ascii_whitespace() || ('\x1c'..='\x1f').contains(&c) || c == '\x0b'
    });
    if text.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match (text.strip_prefix('-'), text.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, text),
    };
    let digits = if base == 8 {
        digits
            .strip_prefix("0o")
            .or_else(|| digits.strip_prefix("0O"))
            .map_or(digits, |d| d.strip_prefix('_').unwrap_or(d))
    } else {
        digits
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        n = n
            .checked_mul(i128::from(base))?
            .checked_add(i128::from(c.to_digit(base)?))?;
    }
    Some(if negative { -n } else { n })
}

fn checksum_ok(block: &[u8]) -> bool {
    let Some(stated) = nti(block.get(148..156).unwrap_or_default()) else {
        return false;
    };
    let (mut unsigned, mut signed) = (256i128, 256i128);
    for (i, &b) in block.iter().enumerate() {
        if (148..156).contains(&i) {
            continue;
        }
        unsigned += i128::from(b);
        signed += i128::from(b as i8);
    }
    stated == unsigned || stated == signed
}

/// `_block`: a size rounded up to whole blocks.
fn blocks(size: u64) -> Option<usize> {
    let size = usize::try_from(size).ok()?;
    size.checked_add(BLOCK - 1).map(|s| s / BLOCK * BLOCK)
}

/// A header as `frombuf` reads it.
struct Header {
    name: Vec<u8>,
    size: i128,
    kind: u8,
    sparse: Vec<(u64, u64)>,
    extended: bool,
    real_size: i128,
}

fn from_buf(block: &[u8]) -> Result<Header, String> {
    if !checksum_ok(block) {
        return Err("bad checksum".to_owned());
    }
    let field = |a: usize, b: usize| block.get(a..b).unwrap_or_default();
    let number = |a, b| nti(field(a, b)).ok_or("invalid header".to_owned());
    for (a, b) in [
        (100, 108),
        (108, 116),
        (116, 124),
        (136, 148),
        (329, 337),
        (337, 345),
    ] {
        number(a, b)?;
    }
    let mut kind = block.read_u8(156).unwrap_or_default();
    let mut name = nts(field(0, 100)).to_vec();
    let prefix = nts(field(345, 500));
    if kind == 0 && name.ends_with(b"/") {
        kind = b'5';
    }
    let (mut sparse, mut extended, mut real_size) = (Vec::new(), false, 0);
    if kind == b'S' {
        for i in 0..4 {
            let at = 386 + i * 24;
            match (nti(field(at, at + 12)), nti(field(at + 12, at + 24))) {
                (Some(o), Some(n)) => {
                    sparse.push((saturating_u64(o.max(0)), saturating_u64(n.max(0))))
                }
                _ => break,
            }
        }
        extended = block.read_u8(482).unwrap_or_default() != 0;
        real_size = number(483, 495)?;
    }
    if kind == b'5' {
        while name.last() == Some(&b'/') {
            name.pop();
        }
    }
    if !prefix.is_empty() && !matches!(kind, b'L' | b'K' | b'S') {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(&name);
        name = full;
    }
    Ok(Header {
        name,
        size: number(124, 136)?,
        kind,
        sparse,
        extended,
        real_size,
    })
}

/// Regular files and types `tarfile` does not know have their size skipped as data.
fn skips_data(kind: u8) -> bool {
    matches!(kind, b'0' | 0 | b'7' | b'S') || !b"1234567LKSxgX".contains(&kind)
}

/// pax records `LEN KEY=VALUE\n` into `into`.
fn pax_records(buf: &[u8], into: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), String> {
    let mut pos = 0usize;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || rest.get(digits) != Some(&b' ') {
            return Ok(());
        }
        let (number, after) = rest.split_at(digits);
        let after = after.get(1..).unwrap_or_default();
        let Some(eq) = after.iter().position(|&b| b == b'=') else {
            return Ok(());
        };
        let length = python_int(number, 10).unwrap_or(0);
        if length == 0 {
            return Err("invalid header".to_owned());
        }
        let length = usize::try_from(length).map_err(|_| "invalid header")?;
        let key = after.get(..eq).unwrap_or_default().to_vec();
        let value_start = digits + 2 + eq;
        let value = rest
            .get(value_start..length.saturating_sub(1).max(value_start))
            .unwrap_or_default()
            .to_vec();
        match into.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => into.push((key, value)),
        }
        pos = pos.checked_add(length).ok_or("invalid header")?;
    }
}

fn pax_get<'a>(headers: &'a [(Vec<u8>, Vec<u8>)], key: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Reads the archive as `tarfile.open(fileobj=..., mode="r:")` and iterating it would.
pub(super) fn read(data: &[u8], max_members: usize) -> PyReading {
    let mut out = PyReading::default();
    let mut global: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut offset = 0usize;
    while out.members.len() < max_members {
        match next_member(data, offset, &mut global) {
            Ok(Some((member, next))) => {
                out.members.push(member);
                if next <= offset {
                    break;
                }
                offset = next;
            }
            Ok(None) => break,
            Err(why) => {
                out.problem = Some(format!("header at offset {offset}: {why}"));
                break;
            }
        }
    }
    out
}

/// `TarFile.next`: the member whose first header is at `offset`, and where the next begins;
/// `None` at the end of the archive.
fn next_member(
    data: &[u8],
    offset: usize,
    global: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Option<(PyMember, usize)>, String> {
    let mut pos = offset;
    let mut long_name: Option<Vec<u8>> = None;
    let mut local: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut extended = false;
    // Extension headers (pax, GNU long names) apply to the header after them; a chain of them
    // is bounded by the file, each taking at least one block.
    loop {
        let Ok(block) = data.read_at(pos, BLOCK) else {
            // A truncated or missing header ends the archive (an error only at offset 0).
            return if pos == 0 && !data.is_empty() {
                Err("truncated header".to_owned())
            } else if pos == offset {
                Ok(None)
            } else {
                Err("the file ends after an extension header".to_owned())
            };
        };
        if block.iter().all(|&b| b == 0) {
            return if pos == offset {
                Ok(None)
            } else {
                Err("an extension header is followed by the end of the archive".to_owned())
            };
        }
        let header = match from_buf(block) {
            Ok(h) => h,
            Err(why) if pos == 0 || pos != offset => return Err(why),
            Err(_) => return Ok(None),
        };
        let data_at = pos + BLOCK;
        let size = u64::try_from(header.size.max(0)).unwrap_or(u64::MAX);
        let body_len = blocks(size).ok_or("the size overflows")?;
        match header.kind {
            b'L' | b'K' => {
                let body = data
                    .read_at(data_at, body_len.min(data.len().saturating_sub(data_at)))
                    .unwrap_or_default();
                if header.kind == b'L' {
                    long_name = Some(
                        nts(body
                            .get(..usize::try_from(size).unwrap_or(usize::MAX).min(body.len()))
                            .unwrap_or(body))
                        .to_vec(),
                    );
                }
                pos = data_at.checked_add(body_len).ok_or("the size overflows")?;
            }
            b'x' | b'g' | b'X' => {
                let body = data
                    .read_at(
                        data_at,
                        usize::try_from(size)
                            .unwrap_or(usize::MAX)
                            .min(data.len().saturating_sub(data_at)),
                    )
                    .unwrap_or_default();
                if header.kind == b'g' {
                    pax_records(body, global)?;
                } else {
                    local = global.clone();
                    pax_records(body, &mut local)?;
                    extended = true;
                }
                pos = data_at.checked_add(body_len).ok_or("the size overflows")?;
            }
            _ => {
                let headers = if extended { &local } else { &*global };
                return member(data, offset, pos, header, long_name, headers).map(Some);
            }
        }
    }
}

/// `_proc_builtin` / `_proc_sparse` for the header at `pos` (the member's first header is at
/// `first`), with the long name and pax records that precede it applied.
fn member(
    data: &[u8],
    first: usize,
    pos: usize,
    header: Header,
    long_name: Option<Vec<u8>>,
    pax: &[(Vec<u8>, Vec<u8>)],
) -> Result<(PyMember, usize), String> {
    let mut name = long_name.unwrap_or(header.name);
    let mut size = header.size;
    let mut data_at = pos + BLOCK;
    let mut sparse = header.sparse;
    let mut stored = header.size;
    if header.kind == b'S' {
        // Extended sparse blocks follow the header.
        let mut more = header.extended;
        while more {
            let Ok(block) = data.read_at(data_at, BLOCK) else {
                break;
            };
            for i in 0..21 {
                let at = i * 24;
                let number = |from: usize| block.get(from..from + 12).and_then(nti);
                match (number(at), number(at + 12)) {
                    (Some(o), Some(n)) if o != 0 && n != 0 => {
                        sparse.push((saturating_u64(o), saturating_u64(n)));
                    }
                    (Some(_), Some(_)) => {}
                    _ => break,
                }
            }
            more = block.read_u8(504).unwrap_or_default() != 0;
            data_at += BLOCK;
        }
        size = header.real_size;
    }
    if let Some(path) = pax_get(pax, b"path").or_else(|| pax_get(pax, b"GNU.sparse.name")) {
        name = path.to_vec();
        while name.last() == Some(&b'/') {
            name.pop();
        }
    }
    if let Some(v) = pax_get(pax, b"size") {
        size = python_int(v, 10).unwrap_or(0);
        stored = size;
    }
    if let Some(map) = pax_get(pax, b"GNU.sparse.map") {
        let numbers: Vec<u64> = map
            .split(|&b| b == b',')
            .filter_map(|n| python_int(n, 10).and_then(|n| u64::try_from(n).ok()))
            .collect();
        sparse = numbers
            .chunks(2)
            .filter_map(|c| Some((*c.first()?, *c.get(1)?)))
            .collect();
    }
    let sparse_10 = pax_get(pax, b"GNU.sparse.major") == Some(b"1")
        && pax_get(pax, b"GNU.sparse.minor") == Some(b"0");
    if let Some(real) =
        pax_get(pax, b"GNU.sparse.realsize").or_else(|| pax_get(pax, b"GNU.sparse.size"))
    {
        size = python_int(real, 10).unwrap_or(0);
    }
    let skips = skips_data(header.kind);
    let stored_len = usize::try_from(stored.max(0)).unwrap_or(usize::MAX);
    let next = if skips {
        data_at
            .checked_add(blocks(stored_len as u64).ok_or("the size overflows")?)
            .ok_or("the size overflows")?
    } else {
        data_at
    };
    let mut map_at = data_at;
    if sparse_10 {
        let (map, after) = sparse_map_10(data, data_at).ok_or("a bad GNU sparse 1.0 map")?;
        sparse = map;
        map_at = after;
    }
    let kind = if !skips {
        PyKind::NoData
    } else if header.kind == b'S' || !sparse.is_empty() || sparse_10 {
        PyKind::Sparse {
            start: map_at,
            map: sparse,
            size: u64::try_from(size.max(0)).unwrap_or(0),
        }
    } else {
        let available = data.len().saturating_sub(data_at);
        PyKind::Data {
            start: data_at,
            len: stored_len.min(available),
        }
    };
    Ok((
        PyMember {
            name,
            header_at: first,
            kind,
        },
        next,
    ))
}

/// `_proc_gnusparse_10`: a count and (offset, length) pairs as decimal lines at the start of
/// the data, padded to a block.
fn sparse_map_10(data: &[u8], at: usize) -> Option<(Vec<(u64, u64)>, usize)> {
    let mut pos = at;
    let mut line = || -> Option<u64> {
        let rest = data.get(pos..)?;
        let end = rest.iter().take(64).position(|&b| b == b'\n')?;
        pos += end + 1;
        u64::try_from(python_int(rest.get(..end)?, 10)?).ok()
    };
    let fields = line()?;
    let mut map = Vec::new();
    for _ in 0..fields.min(1 << 16) {
        let o = line()?;
        let n = line()?;
        map.push((o, n));
    }
    let used = pos - at;
    Some((map, at + blocks(used as u64)?))
}

/// The bytes of a sparse member, holes as zeros, at most `cap` of them.
pub(super) fn expand_sparse(
    data: &[u8],
    start: usize,
    map: &[(u64, u64)],
    size: u64,
    cap: usize,
) -> Vec<u8> {
    let len = usize::try_from(size).unwrap_or(usize::MAX).min(cap);
    let mut out = Vec::new();
    if out.try_reserve_exact(len.min(64 << 20)).is_err() {
        return out;
    }
    let mut stored = start;
    for &(offset, n) in map {
        let Ok(offset) = usize::try_from(offset) else {
            break;
        };
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if offset >= len {
            break;
        }
        if out.len() < offset {
            out.resize(offset, 0);
        }
        let take = n.min(len - offset);
        let chunk = data.get(stored..).unwrap_or_default();
        let chunk = chunk.get(..take.min(chunk.len())).unwrap_or_default();
        out.truncate(offset);
        out.extend_from_slice(chunk);
        stored = stored.saturating_add(n);
    }
    if out.len() < len {
        out.resize(len, 0);
    }
    out
}

/// `v` as a `u64`, clamped to its range (a sparse map's numbers past it are nonsense either way).
fn saturating_u64(v: i128) -> u64 {
    u64::try_from(v.max(0)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int(b"0000644", 8), Some(0o644));
        assert_eq!(python_int(b" 1_0 ", 8), Some(8));
        assert_eq!(python_int(b"0o17", 8), Some(15));
        assert_eq!(python_int(b"-1", 8), Some(-1));
        assert_eq!(python_int(b"", 8), Some(0));
        assert_eq!(python_int(b"9", 8), None);
        assert_eq!(python_int(b"1__0", 8), None);
        assert_eq!(nti(&[0o377; 12]), Some(-1));
    }
}
