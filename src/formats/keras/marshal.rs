//! A bounded reader of CPython's `marshal` format, enough to list what a marshalled code object
//! (a Keras Lambda's `function`) names: its global/attribute names, its constants and the code
//! objects nested in it. Nothing is executed and no bytecode is interpreted.
//!
//! The code object layout changed between Python versions; the version that wrote the bytes is
//! not recorded, so each known layout (3.11+, 3.8–3.10, 3.0–3.7, 2.x) is tried in turn and the
//! first that reads with fitting field types wins. Depth, object count and lengths are bounded
//! by the input.

/// One decoded object, reduced to what matters for judging code.
#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for `i64`, a float or a complex: kept as text.
    Number(String),
    Str(String),
    Bytes(Vec<u8>),
    Seq(Vec<Obj>),
    Code(Box<Code>),
    /// Something the reader skips (Ellipsis, StopIteration, the null of a dict end).
    Other,
}

/// A code object's interesting fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Code {
    pub name: String,
    pub filename: String,
    /// `co_names`: globals, attributes and imported modules the code uses.
    pub names: Vec<String>,
    pub consts: Vec<Obj>,
    /// The bytecode itself (not interpreted).
    pub bytecode_len: usize,
}

impl Code {
    /// Every code object inside this one, this one first.
    pub fn all(&self) -> Vec<&Code> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            let code = out[i];
            for c in &code.consts {
                collect_codes(c, &mut out);
            }
            i += 1;
        }
        out
    }

    /// Every string constant of this code object and the ones nested in it.
    pub fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for code in self.all() {
            for c in &code.consts {
                collect_strings(c, &mut out);
            }
        }
        out
    }
}

fn collect_codes<'a>(obj: &'a Obj, out: &mut Vec<&'a Code>) {
    match obj {
        Obj::Code(c) => out.push(c),
        Obj::Seq(items) => items.iter().for_each(|i| collect_codes(i, out)),
        _ => {}
    }
}

fn collect_strings(obj: &Obj, out: &mut Vec<String>) {
    match obj {
        Obj::Str(s) => out.push(s.clone()),
        Obj::Bytes(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Obj::Seq(items) => items.iter().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

const MAX_DEPTH: u32 = 64;

/// Objects in `obj`, counted up to `cap`.
fn weight(obj: &Obj, cap: usize) -> usize {
    let mut n = 0usize;
    let mut stack = vec![obj];
    while let Some(o) = stack.pop() {
        n += 1;
        if n > cap {
            break;
        }
        match o {
            Obj::Seq(items) => stack.extend(items.iter()),
            Obj::Code(c) => {
                stack.extend(c.consts.iter());
                n = n.saturating_add(c.names.len());
            }
            Obj::Str(s) => n = n.saturating_add(s.len() / 64),
            Obj::Bytes(b) => n = n.saturating_add(b.len() / 64),
            _ => {}
        }
    }
    n
}
const MAX_OBJECTS: usize = 200_000;

/// Why the bytes are not a marshalled object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

/// The code layouts tried, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Py311,
    Py38,
    Py30,
    Py2,
}

const LAYOUTS: [Layout; 4] = [Layout::Py311, Layout::Py38, Layout::Py30, Layout::Py2];

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    refs: Vec<Obj>,
    objects: usize,
}

/// Reads one marshalled object (a code object for a Lambda) from `data`.
pub fn read(data: &[u8]) -> Result<Obj, Error> {
    let mut r = Reader {
        data,
        pos: 0,
        refs: Vec::new(),
        objects: 0,
    };
    r.object(0)
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, what: &str) -> Result<T, Error> {
        Err(Error(format!("{what} at offset {}", self.pos)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        match self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
        {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => self.fail(&format!("{n} bytes past the end")),
        }
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, Error> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length that must fit in what is left (each element takes at least `unit` bytes).
    fn len(&mut self, unit: usize) -> Result<usize, Error> {
        let n = self.i32()?;
        let left = self.data.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(unit) <= left => Ok(n),
            _ => self.fail(&format!("length {n} larger than the data")),
        }
    }

    fn object(&mut self, depth: u32) -> Result<Obj, Error> {
        if depth > MAX_DEPTH {
            return self.fail("nesting deeper than 64");
        }
        self.objects += 1;
        if self.objects > MAX_OBJECTS {
            return self.fail("more than 200000 objects");
        }
        let code = self.u8()?;
        let flag = code & 0x80 != 0;
        let kind = code & 0x7f;
        // CPython reserves a reference slot before reading a container's items.
        let slot = if flag {
            self.refs.push(Obj::Other);
            Some(self.refs.len() - 1)
        } else {
            None
        };
        let obj = self.body(kind, depth)?;
        if let Some(slot) = slot {
            self.refs[slot] = obj.clone();
        }
        Ok(obj)
    }

    fn str(&mut self, n: usize, utf8: bool) -> Result<Obj, Error> {
        let bytes = self.take(n)?;
        Ok(if utf8 {
            Obj::Str(String::from_utf8_lossy(bytes).into_owned())
        } else {
            Obj::Str(bytes.iter().map(|&b| char::from(b)).collect())
        })
    }

    fn items(&mut self, n: usize, depth: u32) -> Result<Obj, Error> {
        let mut items = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            items.push(self.object(depth + 1)?);
        }
        Ok(Obj::Seq(items))
    }

    fn body(&mut self, kind: u8, depth: u32) -> Result<Obj, Error> {
        Ok(match kind {
            b'0' | b'S' | b'.' | b'?' => Obj::Other,
            b'N' => Obj::None,
            b'F' => Obj::Bool(false),
            b'T' => Obj::Bool(true),
            b'i' => Obj::Int(i64::from(self.i32()?)),
            b'I' => {
                let b = self.take(8)?;
                Obj::Int(i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            }
            b'l' => {
                let n = self.i32()?;
                let digits = n.unsigned_abs() as usize;
                if digits.saturating_mul(2) > self.data.len() - self.pos {
                    return self.fail("long integer larger than the data");
                }
                self.take(digits * 2)?;
                Obj::Number(format!("<{digits}-digit integer>"))
            }
            b'g' => {
                let b = self.take(8)?;
                Obj::Number(f64::from_le_bytes(b.try_into().unwrap_or([0; 8])).to_string())
            }
            b'y' => {
                self.take(16)?;
                Obj::Number("<complex>".to_owned())
            }
            b'f' => {
                let n = usize::from(self.u8()?);
                let text = self.take(n)?;
                Obj::Number(String::from_utf8_lossy(text).into_owned())
            }
            b'x' => {
                let n = usize::from(self.u8()?);
                self.take(n)?;
                let n = usize::from(self.u8()?);
                self.take(n)?;
                Obj::Number("<complex>".to_owned())
            }
            b's' => {
                let n = self.len(1)?;
                Obj::Bytes(self.take(n)?.to_vec())
            }
            b't' | b'u' => {
                let n = self.len(1)?;
                self.str(n, true)?
            }
            b'a' | b'A' => {
                let n = self.len(1)?;
                self.str(n, false)?
            }
            b'z' | b'Z' => {
                let n = usize::from(self.u8()?);
                self.str(n, false)?
            }
            b'(' | b'[' | b'<' | b'>' => {
                let n = self.len(1)?;
                self.items(n, depth)?
            }
            b')' => {
                let n = usize::from(self.u8()?);
                self.items(n, depth)?
            }
            b'{' => {
                let mut items = Vec::new();
                loop {
                    if self.data.get(self.pos) == Some(&b'0') {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.object(depth + 1)?);
                    items.push(self.object(depth + 1)?);
                }
                Obj::Seq(items)
            }
            b'r' => {
                let n = self.i32()?;
                let obj = match usize::try_from(n).ok().and_then(|n| self.refs.get(n)) {
                    Some(obj) => obj,
                    None => return self.fail(&format!("reference {n} to no earlier object")),
                };
                // A back reference copies the object: references to references would
                // otherwise multiply without bound.
                self.objects = self.objects.saturating_add(weight(obj, MAX_OBJECTS));
                if self.objects > MAX_OBJECTS {
                    return self.fail("back references expand past 200000 objects");
                }
                obj.clone()
            }
            b'R' => {
                // Python 2's interned-string back reference.
                self.i32()?;
                Obj::Str(String::new())
            }
            b'c' => self.code(depth)?,
            other => return self.fail(&format!("unknown type code 0x{other:02x}")),
        })
    }

    fn code(&mut self, depth: u32) -> Result<Obj, Error> {
        let (start, refs, objects) = (self.pos, self.refs.len(), self.objects);
        let mut last = Error(String::new());
        for layout in LAYOUTS {
            match self.code_as(layout, depth) {
                Ok(code) => return Ok(Obj::Code(Box::new(code))),
                Err(e) => {
                    last = e;
                    self.pos = start;
                    self.refs.truncate(refs);
                    self.objects = objects;
                }
            }
        }
        Err(Error(format!(
            "a code object in no known layout (last: {})",
            last.0
        )))
    }

    fn code_as(&mut self, layout: Layout, depth: u32) -> Result<Code, Error> {
        let ints = match layout {
            Layout::Py311 => 5,
            Layout::Py38 => 6,
            Layout::Py30 => 5,
            Layout::Py2 => 4,
        };
        for _ in 0..ints {
            self.i32()?;
        }
        let bytecode = match self.object(depth + 1)? {
            Obj::Bytes(b) => b.len(),
            _ => return self.fail("bytecode is not bytes"),
        };
        let consts = match self.object(depth + 1)? {
            Obj::Seq(items) => items,
            _ => return self.fail("constants are not a tuple"),
        };
        let names = self.strings(depth)?;
        match layout {
            Layout::Py311 => {
                self.strings(depth)?; // localsplusnames
                self.object(depth + 1)?; // localspluskinds
            }
            _ => {
                self.strings(depth)?; // varnames
                self.strings(depth)?; // freevars
                self.strings(depth)?; // cellvars
            }
        }
        let filename = self.string(depth)?;
        let name = self.string(depth)?;
        if layout == Layout::Py311 {
            self.string(depth)?; // qualname
        }
        self.i32()?; // firstlineno
        self.object(depth + 1)?; // lnotab / linetable
        if layout == Layout::Py311 {
            self.object(depth + 1)?; // exceptiontable
        }
        Ok(Code {
            name,
            filename,
            names,
            consts,
            bytecode_len: bytecode,
        })
    }

    fn string(&mut self, depth: u32) -> Result<String, Error> {
        match self.object(depth + 1)? {
            Obj::Str(s) => Ok(s),
            Obj::Bytes(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            _ => self.fail("a name is not a string"),
        }
    }

    fn strings(&mut self, depth: u32) -> Result<Vec<String>, Error> {
        match self.object(depth + 1)? {
            Obj::Seq(items) => items
                .into_iter()
                .map(|i| match i {
                    Obj::Str(s) => Ok(s),
                    Obj::Bytes(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
                    _ => self.fail("a name in a tuple is not a string"),
                })
                .collect(),
            _ => self.fail("names are not a tuple"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `marshal.dumps((lambda x: x * 2.0 + 1.0).__code__)` as Keras 3.12 wrote it on Python
    /// 3.11 (tests/data/framework/lambda/keras3_lambda.keras).
    const PY311_LAMBDA: &str = "4wEAAAAAAAAAAAAAAAIAAAATAAAA8xIAAACXAHwAZAF6BQAAZAJ6AAAAUwApA07nAAAAAAAAAEDnAAAAAAAA8D+pACkB2gF4cwEAAAAg+jEvd29yay93dC1mcmFtZXdvcmsvc2NyaXB0cy9mcmFtZXdvcmtfcmVmZXJlbmNlLnB5+gg8bGFtYmRhPvoea2VyYXNfbGFtYmRhLjxsb2NhbHM+LjxsYW1iZGE+OAAAAHMPAAAAgADIMchzyTfQVVjJPYAA8wAAAAA=";

    #[test]
    fn a_real_lambda_decodes() {
        let bytes = super::super::base64(PY311_LAMBDA).unwrap();
        let Obj::Code(code) = read(&bytes).unwrap() else {
            panic!("not code")
        };
        assert_eq!(code.name, "<lambda>");
        assert!(code.names.is_empty(), "{:?}", code.names);
        assert!(code.filename.ends_with("framework_reference.py"));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 0xe3) as u8).collect();
            let _ = read(&data);
        }
        let _ = read(b"\xe3\xff\xff\xff\x7f");
        let _ = read(b"(\xff\xff\xff\x7f");
        let _ = read(b"r\x05\x00\x00\x00");
        let deep = [b')', 1].repeat(500);
        assert!(read(&deep).is_err());
        // A tuple of 200 references to a tuple of 200 references to …: a billion laughs.
        let mut laughs = vec![b'(', 7, 0, 0, 0, b'(' | 0x80, 200, 0, 0, 0];
        laughs.extend([b'z', 1, b'x'].repeat(200));
        for level in 0..6u8 {
            laughs.extend([b'(' | 0x80, 200, 0, 0, 0]);
            for _ in 0..200 {
                laughs.extend([b'r', level, 0, 0, 0]);
            }
        }
        assert!(read(&laughs).is_err());
    }
}
