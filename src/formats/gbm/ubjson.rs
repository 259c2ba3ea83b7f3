//! A bounded UBJSON walker (Draft 12, as XGBoost's `UBJWriter` writes it): values are a type
//! marker and a payload; lengths are integer values; containers may be optimised with a type
//! (`$`) and a count (`#`), in which case items carry no markers and there is no closing
//! marker. Nothing is allocated by a declared size: counts are checked against the bytes left
//! (items of zero-byte types are skipped without iterating), nesting is capped, and the walk is
//! iterative.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

pub use crate::formats::walked::Error;
use crate::formats::walked::{Strings, err};

/// Nesting the walk follows.
const MAX_DEPTH: usize = 256;
const MAX_VALUES: u64 = 50_000_000;

#[derive(Debug, Default)]
pub struct Walk {
    pub end: usize,
    pub values: u64,
    pub strings: Strings,
}

/// Payload size of a fixed-size type, `None` for strings and containers.
fn fixed_size(marker: u8) -> Option<usize> {
    match marker {
        b'Z' | b'N' | b'T' | b'F' => Some(0),
        b'i' | b'U' | b'C' => Some(1),
        b'I' => Some(2),
        b'l' | b'd' => Some(4),
        b'L' | b'D' => Some(8),
        _ => None,
    }
}

/// Reads an integer value (marker and payload) at `at`: a length or a count.
fn read_int(data: &[u8], at: usize) -> Result<(u64, usize), Error> {
    let marker = *data
        .get(at)
        .ok_or_else(|| err(at, "a length runs past the end"))?;
    let n = match marker {
        b'i' | b'U' => 1,
        b'I' => 2,
        b'l' => 4,
        b'L' => 8,
        other => {
            return Err(err(
                at,
                format!("a length with the non-integer marker {:?}", other as char),
            ));
        }
    };
    let bytes = data
        .get(at + 1..at + 1 + n)
        .ok_or_else(|| err(at, "a length runs past the end"))?;
    let value = bytes.iter().fold(0i64, |v, &b| (v << 8) | i64::from(b));
    // Sign-extend the narrower signed types.
    let value = match marker {
        b'i' => <[u8; 1]>::try_from(bytes).map_or(value, |b| i64::from(i8::from_be_bytes(b))),
        b'I' => <[u8; 2]>::try_from(bytes).map_or(value, |b| i64::from(i16::from_be_bytes(b))),
        b'l' => <[u8; 4]>::try_from(bytes).map_or(value, |b| i64::from(i32::from_be_bytes(b))),
        _ => value,
    };
    let value = u64::try_from(value).map_err(|_| err(at, "a negative length"))?;
    Ok((value, at + 1 + n))
}

/// A length-prefixed string's bytes (keys, `S`, `H`).
fn read_str(data: &[u8], at: usize) -> Result<(&[u8], usize), Error> {
    let (n, at) = read_int(data, at)?;
    let n = usize::try_from(n).map_err(|_| err(at, "a length past the address space"))?;
    let bytes = at
        .checked_add(n)
        .and_then(|end| data.get(at..end))
        .ok_or_else(|| err(at, format!("a string of {n} bytes runs past the end")))?;
    Ok((bytes, at + n))
}

/// The first key of the object at the start of `data`, if it is one with a plain key.
pub fn first_key(data: &[u8]) -> Option<String> {
    if data.first() != Some(&b'{') {
        return None;
    }
    let mut at = 1;
    // An optimised object: `$<type>` and/or `#<count>` before the first key.
    if data.get(at) == Some(&b'$') {
        at += 2;
    }
    if data.get(at) == Some(&b'#') {
        at = read_int(data, at + 1).ok()?.1;
    }
    let (key, _) = read_str(data, at).ok()?;
    let key = std::str::from_utf8(key).ok()?;
    (!key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| key.to_owned())
}

struct Frame {
    object: bool,
    /// Items left when counted; `None` until the closing marker.
    left: Option<u64>,
    /// The items' type when optimised with `$`.
    typ: Option<u8>,
    /// In an object: the next thing is a key.
    key_next: bool,
}

/// Walks the first UBJSON value of `data`.
pub fn walk(data: &[u8], collect: bool) -> Result<Walk, Error> {
    let mut w = Walker {
        data,
        at: 0,
        stack: Vec::new(),
        out: Walk::default(),
        collect,
    };
    let mut started = false;
    loop {
        let forced = match w.next_slot(started)? {
            Slot::End => break,
            Slot::Again => continue,
            Slot::Value(forced) => forced,
        };
        started = true;
        w.value(forced)?;
        if w.stack.is_empty() {
            break;
        }
    }
    w.out.end = w.at;
    Ok(w.out)
}

/// Where the walk is: the position, the open containers, what it found.
struct Walker<'d> {
    data: &'d [u8],
    at: usize,
    stack: Vec<Frame>,
    out: Walk,
    collect: bool,
}

/// What comes next in the walk.
enum Slot {
    /// The root value is done.
    End,
    /// A container closed or a key was read: look again.
    Again,
    /// A value, of the type its container fixes (`$`) when it does.
    Value(Option<u8>),
}

impl Walker<'_> {
    /// Closes finished containers and reads object keys until a value is next.
    fn next_slot(&mut self, started: bool) -> Result<Slot, Error> {
        let data = self.data;
        let Some(frame) = self.stack.last_mut() else {
            return Ok(if started {
                Slot::End
            } else {
                Slot::Value(None)
            });
        };
        let closes = match frame.left {
            Some(0) => true,
            None => {
                // Skip no-ops; a closing marker ends the container.
                while data.get(self.at) == Some(&b'N') {
                    self.at += 1;
                }
                let close = if frame.object { b'}' } else { b']' };
                let closes = (frame.key_next || !frame.object) && data.get(self.at) == Some(&close);
                if closes {
                    self.at += 1;
                }
                closes
            }
            Some(_) => false,
        };
        if closes {
            self.stack.pop();
            return Ok(if self.stack.is_empty() {
                Slot::End
            } else {
                Slot::Again
            });
        }
        if frame.object && frame.key_next {
            let (key, end) = read_str(data, self.at)?;
            if self.collect {
                self.out.strings.note(self.at, key);
            }
            self.at = end;
            frame.key_next = false;
            return Ok(Slot::Again);
        }
        if let Some(left) = frame.left.as_mut() {
            *left -= 1;
        }
        if frame.object {
            frame.key_next = true;
        }
        Ok(Slot::Value(frame.typ))
    }

    /// Reads one value: a number is skipped, a string noted, a container opened.
    fn value(&mut self, forced: Option<u8>) -> Result<(), Error> {
        let (data, at) = (self.data, self.at);
        self.out.values += 1;
        if self.out.values > MAX_VALUES {
            return Err(err(at, format!("more than {MAX_VALUES} values")));
        }
        let marker = match forced {
            Some(m) => m,
            None => {
                let m = *data
                    .get(at)
                    .ok_or_else(|| err(at, "the data ends inside a value"))?;
                self.at += 1;
                m
            }
        };
        let at = self.at;
        if let Some(n) = fixed_size(marker) {
            self.at = at
                .checked_add(n)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| err(at, "a number runs past the end"))?;
            return Ok(());
        }
        match marker {
            b'S' | b'H' => {
                let (s, end) = read_str(data, at)?;
                if self.collect {
                    self.out.strings.note(at, s);
                }
                self.at = end;
                Ok(())
            }
            b'[' | b'{' => self.open(marker == b'{'),
            other => Err(err(
                at.saturating_sub(1),
                format!("the unknown type marker {:?}", other as char),
            )),
        }
    }

    /// Opens an array or object after its marker: its optional type (`$`) and count (`#`).
    /// An array of a fixed-size type is skipped at once, with no iteration per item.
    fn open(&mut self, object: bool) -> Result<(), Error> {
        let data = self.data;
        let mut at = self.at;
        if self.stack.len() >= MAX_DEPTH {
            return Err(err(at, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let mut typ = None;
        let mut left = None;
        if data.get(at) == Some(&b'$') {
            let t = *data
                .get(at + 1)
                .ok_or_else(|| err(at, "a container type runs past the end"))?;
            if fixed_size(t).is_none() && !matches!(t, b'S' | b'H' | b'[' | b'{') {
                return Err(err(
                    at,
                    format!("a container of the unknown type {:?}", t as char),
                ));
            }
            typ = Some(t);
            at += 2;
            if data.get(at) != Some(&b'#') {
                return Err(err(at, "a typed container without a count"));
            }
        }
        if data.get(at) == Some(&b'#') {
            let (n, end) = read_int(data, at + 1)?;
            at = end;
            if let (Some(t), false) = (typ, object)
                && let Some(size) = fixed_size(t)
            {
                self.at = n
                    .checked_mul(size as u64)
                    .and_then(|b| usize::try_from(b).ok())
                    .and_then(|b| at.checked_add(b))
                    .filter(|&e| e <= data.len())
                    .ok_or_else(|| {
                        err(at, format!("a typed array of {n} items runs past the end"))
                    })?;
                return Ok(());
            }
            // Every other item takes at least one byte.
            if n > (data.len() - at) as u64 {
                return Err(err(
                    at,
                    format!("a container declares {n} items, more than the bytes left"),
                ));
            }
            left = Some(n);
        }
        self.at = at;
        self.stack.push(Frame {
            object,
            left,
            typ,
            key_next: object,
        });
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test fixtures are small")]
mod tests {
    use super::*;

    fn key(s: &str) -> Vec<u8> {
        let mut v = vec![b'i', s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// `{"learner": {"feature_names": ["a", "b"], "w": [$d#i2 …]}, "version": [$i#i3 1 2 3]}`.
    fn model() -> Vec<u8> {
        let mut v = vec![b'{'];
        v.extend(key("learner"));
        v.push(b'{');
        v.extend(key("feature_names"));
        v.extend_from_slice(b"[#i\x02");
        for n in ["alpha", "b"] {
            v.push(b'S');
            v.extend(key(n));
        }
        v.extend(key("w"));
        v.extend_from_slice(b"[$d#i\x02");
        v.extend_from_slice(&[0; 8]);
        v.push(b'}');
        v.extend(key("version"));
        v.extend_from_slice(b"[$i#i\x03\x01\x02\x03");
        v.push(b'}');
        v
    }

    #[test]
    fn walks_an_xgboost_shaped_model() {
        let data = model();
        assert_eq!(first_key(&data).as_deref(), Some("learner"));
        let w = walk(&data, true).unwrap();
        assert_eq!(w.end, data.len());
        assert!(w.strings.iter().any(|(_, s)| s == "alpha"));
        assert!(w.strings.iter().any(|(_, s)| s == "feature_names"));
    }

    #[test]
    fn hostile_counts_depth_and_truncation_are_errors() {
        assert!(walk(b"[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff", false).is_err());
        assert!(walk(b"[#L\x7f\xff\xff\xff\xff\xff\xff\xff", false).is_err());
        // Zero-size items need no bytes, however many are declared.
        assert!(walk(b"[$Z#L\x00\x00\x00\x00\x7f\xff\xff\xff", false).is_ok());
        assert!(walk(&vec![b'['; 10_000], false).is_err());
        let mut data = model();
        data.truncate(data.len() - 5);
        assert!(walk(&data, false).is_err());
        assert!(walk(b"{i\x03abcX", false).is_err());
    }
}
