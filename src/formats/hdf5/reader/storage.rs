//! Raw data storage: external files and data layouts (virtual dataset mappings).

use super::*;

impl<'a> R<'a> {
    /// External Data Files message: a dataset's raw bytes read from other files.
    pub(super) fn external_files(&mut self, c: &mut Cur<'_>, path: &str, at: Option<u64>) {
        let parsed = (|| {
            c.u8()?;
            c.skip(3)?;
            c.u16()?;
            let used = c.u16()?;
            let heap = self.addr(c)?;
            Some((used, heap))
        })();
        let Some((used, heap)) = parsed else {
            return self.problem(at, format!("external storage of `{path}` is truncated"));
        };
        let names = self.local_heap(heap);
        for _ in 0..used {
            let slot = (|| {
                let name = self.length(c)?;
                self.length(c)?;
                self.length(c)?;
                Some(name)
            })();
            let Some(name_off) = slot else { break };
            let file = match names {
                Some(n) => heap_string(n, name_off),
                None => "<unreadable name>".to_owned(),
            };
            self.out.externals.push(External::Storage {
                dataset: path.to_owned(),
                file,
            });
        }
    }

    /// Data layout: only virtual datasets (class 3) lead elsewhere.
    pub(super) fn layout(&mut self, c: &mut Cur<'_>, path: &str, at: Option<u64>) {
        let Some(version) = c.u8() else { return };
        if version != 4 || c.u8() != Some(3) {
            return;
        }
        let global = (|| Some((self.addr(c)?, c.u32()?)))();
        let Some((collection, index)) = global else {
            return self.problem(
                at,
                format!("virtual dataset `{path}` has a truncated layout"),
            );
        };
        let Some(blob) = self.global_object(collection, index) else {
            return self.problem(
                at,
                format!("virtual dataset `{path}`'s mapping is unreadable"),
            );
        };
        let mut vc = Cur::new(blob, 0);
        let Some(_version) = vc.u8() else { return };
        let Some(count) = self.length(&mut vc) else {
            return;
        };
        for _ in 0..count.min(100_000) {
            let entry = (|| {
                let file = vc.cstr()?;
                let source = vc.cstr()?;
                skip_selection(&mut vc)?;
                skip_selection(&mut vc)?;
                Some((file, source))
            })();
            let Some((file, source)) = entry else {
                self.problem(
                    at,
                    format!("virtual dataset `{path}`'s mapping is truncated"),
                );
                break;
            };
            self.out.externals.push(External::Virtual {
                dataset: path.to_owned(),
                file: String::from_utf8_lossy(&file).into_owned(),
                source: String::from_utf8_lossy(&source).into_owned(),
            });
        }
    }
}
