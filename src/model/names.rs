//! Names as the reports show them. File and member names are bytes; most are UTF-8, but an
//! archive or a file system can hold any bytes, and two names that differ only in invalid bytes
//! must not print the same (`a\xff.pkl` and `a\xfe.pkl` would both be `a�.pkl` with the usual
//! lossy conversion). Invalid bytes are written as `\xNN`, so every name reads back distinctly.

use std::borrow::Cow;
use std::ffi::OsStr;

/// `raw` as text: unchanged when it is UTF-8, else each byte of an invalid sequence as `\xNN`.
pub fn escaped(raw: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(raw) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    Cow::Owned(out)
}

/// A file name or path as text, the same way (on Unix a path is bytes).
pub fn escaped_os(name: &OsStr) -> Cow<'_, str> {
    use std::os::unix::ffi::OsStrExt;
    escaped(name.as_bytes())
}

/// The bytes of `name` in hexadecimal when it is not UTF-8, for the JSON report's raw-bytes
/// fields (`None` for a UTF-8 name, which the text field already holds exactly).
pub fn raw_hex(name: &OsStr) -> Option<String> {
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    std::str::from_utf8(bytes).is_err().then(|| {
        bytes
            .iter()
            .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_stay_distinct() {
        assert_eq!(escaped(b"model.pkl"), "model.pkl");
        assert_eq!(escaped(b"a\xff.pkl"), "a\\xFF.pkl");
        assert_ne!(escaped(b"a\xff.pkl"), escaped(b"a\xfe.pkl"));
        // A truncated multi-byte sequence: each of its bytes.
        assert_eq!(escaped(b"\xe2\x82x"), "\\xE2\\x82x");
        assert_eq!(raw_hex(OsStr::new("ok")), None);
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            raw_hex(OsStr::from_bytes(b"a\xff")).as_deref(),
            Some("61ff")
        );
    }
}
