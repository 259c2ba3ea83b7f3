//! The superblock (versions 0–3), the sizes it declares and the base address.

use super::*;

impl<'a> R<'a> {
    /// Reads the superblock; returns the root group's object header address.
    pub(super) fn superblock(&mut self, at: usize) -> Option<u64> {
        let mut c = Cur::new(self.data, at + SIGNATURE.len());
        let version = c.u8()?;
        self.out.superblock_version = version;
        match version {
            0 | 1 => {
                c.skip(4)?; // free-space, root symtab, reserved, shared header versions
                self.so = usize::from(c.u8()?);
                self.sl = usize::from(c.u8()?);
                c.skip(1)?;
                c.skip(4)?; // group leaf K, internal K
                c.skip(4)?; // consistency flags
                if version == 1 {
                    c.skip(4)?;
                }
                self.check_sizes()?;
                let base = self.addr(&mut c)?;
                self.set_base(base, at);
                self.addr(&mut c)?; // free space
                self.addr(&mut c)?; // end of file
                let driver = self.addr(&mut c)?;
                if driver != UNDEFINED {
                    self.out
                        .skipped
                        .push("a driver information block (family/multi driver)".to_owned());
                }
                // Root group symbol table entry: link name offset, object header address.
                self.addr(&mut c)?;
                self.addr(&mut c)
            }
            2 | 3 => {
                self.so = usize::from(c.u8()?);
                self.sl = usize::from(c.u8()?);
                c.skip(1)?; // flags
                self.check_sizes()?;
                let base = self.addr(&mut c)?;
                self.set_base(base, at);
                self.addr(&mut c)?; // superblock extension
                self.addr(&mut c)?; // end of file
                self.addr(&mut c)
            }
            _ => {
                self.problem(
                    Some(at as u64),
                    format!("unknown superblock version {version}"),
                );
                None
            }
        }
    }

    pub(super) fn check_sizes(&mut self) -> Option<()> {
        if [2, 4, 8].contains(&self.so) && [2, 4, 8].contains(&self.sl) {
            Some(())
        } else {
            self.problem(
                None,
                format!("offsets of {} and lengths of {} bytes", self.so, self.sl),
            );
            None
        }
    }

    /// Addresses are relative to the base address, which the library moves to the superblock
    /// when a user block precedes it.
    pub(super) fn set_base(&mut self, stored: u64, at: usize) {
        self.base = if stored == 0 || stored == UNDEFINED {
            at as u64
        } else {
            stored
        };
    }
}
