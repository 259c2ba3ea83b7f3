//! A guard for memory maps against files that shrink while they are read. Reading a page of a
//! mapping past the end of its file raises SIGBUS, which would end the whole process and every
//! other artifact's result with it. While a file is mapped, its address range is registered
//! here; a SIGBUS inside a registered range replaces the missing page with a page of zeros,
//! marks the mapping as faulted and returns, so the read completes and the scan goes on. The
//! scan then reports that artifact as an `error` (its bytes were not all there) instead of
//! trusting what it read. A SIGBUS anywhere else is left to the default action.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// Mappings guarded at once: one per worker and the few siblings an analyser maps. Past this,
/// a mapping is made without a guard (as every mapping was before).
const SLOTS: usize = 256;

struct Slot {
    taken: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // each array element is its own slot
const FREE: Slot = Slot {
    taken: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};
static SLOTS_IN_USE: [Slot; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
/// The action SIGBUS had before (the standard library's), for faults outside our mappings.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A registered address range; unregistered when dropped (before the mapping is unmapped,
/// since it is dropped first by its owner).
pub struct Guard(usize);

impl Guard {
    /// Registers `len` bytes at `start`; `None` when every slot is taken.
    pub fn register(start: *const u8, len: usize) -> Option<Guard> {
        INSTALL.call_once(install);
        let index = SLOTS_IN_USE.iter().position(|slot| {
            slot.taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        let slot = &SLOTS_IN_USE[index];
        slot.faulted.store(false, Ordering::Release);
        slot.start.store(start as usize, Ordering::Release);
        slot.len.store(len, Ordering::Release);
        Some(Guard(index))
    }

    /// Whether a read of this mapping found its file shorter than when it was mapped.
    pub fn faulted(&self) -> bool {
        SLOTS_IN_USE[self.0].faulted.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let slot = &SLOTS_IN_USE[self.0];
        slot.len.store(0, Ordering::Release);
        slot.start.store(0, Ordering::Release);
        slot.taken.store(false, Ordering::Release);
    }
}

fn install() {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if let Ok(page) = usize::try_from(page)
        && page.is_power_of_two()
    {
        PAGE.store(page, Ordering::Release);
    }
    // SAFETY: a zeroed sigaction is a valid empty one; the handler only does what is
    // async-signal-safe (atomic loads and stores, mmap, sigaction).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, &action, &mut previous) == 0 {
            let _ = PREVIOUS.set(previous);
        }
    }
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let address = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Acquire);
    for slot in &SLOTS_IN_USE {
        let len = slot.len.load(Ordering::Acquire);
        let start = slot.start.load(Ordering::Acquire);
        if len == 0 || address < start || address - start >= len {
            continue;
        }
        let base = address & !(page - 1);
        // SAFETY: the page lies inside a read-only mapping this process made and still holds
        // (its slot is registered); replacing it with an anonymous zero page changes what reads
        // of it return, which is what the fault already made meaningless, and nothing else.
        let mapped = unsafe {
            libc::mmap(
                base as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if mapped != libc::MAP_FAILED {
            slot.faulted.store(true, Ordering::Release);
            return;
        }
    }
    // Not a guarded mapping: back to the action SIGBUS had before (the default if none).
    // Returning re-runs the faulting read, which faults again under that action.
    // SAFETY: `previous` is an action the kernel returned, or a zeroed one (SIG_DFL).
    unsafe {
        let default: libc::sigaction = std::mem::zeroed();
        let previous = PREVIOUS.get().unwrap_or(&default);
        libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::zone::mmap::{Mapped, map};

    /// A file cut short while mapped: reading past its new end gives zeros and marks the
    /// mapping, instead of ending the process.
    #[test]
    fn a_file_truncated_while_mapped_is_noticed_not_fatal() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![7u8; 4 << 20]).unwrap();
        let mapped = map(&file).unwrap();
        assert!(matches!(mapped, Mapped::Map { .. }));
        assert!(!mapped.faulted());
        assert_eq!(mapped[100], 7);
        file.set_len(4096).unwrap();
        assert_eq!(mapped[3 << 20], 0);
        assert!(mapped.faulted());
        // The part still in the file reads as before.
        assert_eq!(mapped[100], 7);
    }
}
