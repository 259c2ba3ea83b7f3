//! Attributes and their values; variable-length strings through the global heap.

use super::*;

impl<'a> R<'a> {
    /// One object of a global heap collection.
    pub(super) fn global_object(&mut self, collection: u64, index: u32) -> Option<&'a [u8]> {
        let mut c = self.cur(collection)?;
        if c.take(4)? != b"GCOL" {
            return None;
        }
        c.skip(4)?;
        let size = usize::try_from(self.length(&mut c)?).ok()?;
        let start = self.pos(collection, size)?;
        let mut c = Cur::new(&self.data[..start + size], c.pos);
        loop {
            let id = c.u16()?;
            c.skip(6)?;
            let len = usize::try_from(self.length(&mut c)?).ok()?;
            if id == 0 {
                return None;
            }
            if u32::from(id) == index {
                return c.take(len);
            }
            c.skip(len.div_ceil(8) * 8)?;
        }
    }

    pub(super) fn attribute(&mut self, c: &mut Cur<'_>, path: &str, at: Option<u64>) {
        let parsed = (|| {
            let version = c.u8()?;
            let flags = c.u8()?;
            let name_len = usize::from(c.u16()?);
            let dt_len = usize::from(c.u16()?);
            let ds_len = usize::from(c.u16()?);
            if version == 3 {
                c.u8()?;
            }
            let pad = |n: usize| if version == 1 { n.div_ceil(8) * 8 } else { n };
            let name = c.take(pad(name_len))?;
            let name = &name[..name_len.min(name.len())];
            let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default())
                .into_owned();
            let dt = c.take(pad(dt_len))?;
            let ds = c.take(pad(ds_len))?;
            (1..=3).contains(&version).then_some((flags, name, dt, ds))
        })();
        let Some((flags, name, dt, ds)) = parsed else {
            return self.problem(
                at,
                format!("an attribute of `{path}` is truncated or of an unknown version"),
            );
        };
        if flags & 0x03 != 0 {
            self.out.skipped.push(format!(
                "attribute `{name}` of `{path}` with a shared datatype or dataspace"
            ));
            return;
        }
        let count = dataspace_elements(ds, self.sl);
        let value = self.attr_value(dt, count, c, path, &name, at);
        if self.out.attributes.len() < 100_000 {
            self.out.attributes.push(Attribute {
                object: path.to_owned(),
                name,
                value,
            });
        }
    }

    pub(super) fn attr_value(
        &mut self,
        dt: &[u8],
        count: Option<u64>,
        c: &mut Cur<'_>,
        path: &str,
        name: &str,
        at: Option<u64>,
    ) -> AttrValue {
        let mut dc = Cur::new(dt, 0);
        let (Some(class_version), Some(bits), Some(size)) = (dc.u8(), dc.take(3), dc.u32()) else {
            return AttrValue::Other {
                class: 255,
                bytes: 0,
            };
        };
        let class = class_version & 0x0f;
        let size = size as usize;
        let count = count.unwrap_or(0);
        if count > MAX_ELEMENTS {
            self.out.skipped.push(format!(
                "attribute `{name}` of `{path}` with {count} elements"
            ));
            return AttrValue::Other { class, bytes: 0 };
        }
        let count = count as usize;
        match class {
            3 => {
                let Some(all) = size.checked_mul(count).and_then(|n| c.take(n)) else {
                    self.problem(
                        at,
                        format!("attribute `{name}` of `{path}` holds less data than declared"),
                    );
                    return AttrValue::Other { class, bytes: 0 };
                };
                let strings = all
                    .chunks(size.max(1))
                    .map(|s| trim_nul(s).to_vec())
                    .collect::<Vec<_>>();
                self.account(&strings);
                AttrValue::Strings(strings)
            }
            9 if bits[0] & 0x0f == 1 || vlen_of_bytes(dt) => {
                let mut strings = Vec::new();
                for _ in 0..count {
                    let element = (|| {
                        let len = c.u32()? as usize;
                        let collection = self.addr(c)?;
                        let index = c.u32()?;
                        Some((len, collection, index))
                    })();
                    let Some((len, collection, index)) = element else {
                        self.problem(
                            at,
                            format!("attribute `{name}` of `{path}` holds less data than declared"),
                        );
                        break;
                    };
                    if len == 0 {
                        strings.push(Vec::new());
                        continue;
                    }
                    match self.global_object(collection, index) {
                        Some(bytes) => {
                            strings.push(trim_nul(&bytes[..len.min(bytes.len())]).to_vec())
                        }
                        None => {
                            self.problem(
                                at,
                                format!("attribute `{name}` of `{path}` points at a missing global heap object"),
                            );
                        }
                    }
                }
                self.account(&strings);
                AttrValue::Strings(strings)
            }
            _ => AttrValue::Other {
                class,
                bytes: size.saturating_mul(count),
            },
        }
    }

    pub(super) fn account(&mut self, strings: &[Vec<u8>]) {
        self.string_bytes += strings.iter().map(Vec::len).sum::<usize>();
        if self.string_bytes > MAX_STRING_BYTES {
            self.problem(None, "attribute strings pass 256 MiB");
        }
    }
}
