//! A clear error, not a crash, when a file that is being read through a memory map
//! shrinks under it.
//!
//! CSV files are read in place through `mmap`. If another process truncates a file
//! while floe reads it, touching a page past the new end raises `SIGBUS`, which kills
//! the process with no word of which file it was (4 of 4 runs in the review). No Rust
//! code can recover from that fault safely (the read was in the middle of a decoder),
//! so this module makes the death a clean, named one:
//!
//! * every mapping is registered ([`MappedRange`]) with its address range and a message
//!   naming its file, prepared in advance;
//! * a `SIGBUS` handler, installed once, looks the faulting address up in a fixed table
//!   of atomics (no locks, no allocation: only async-signal-safe work), writes that
//!   message to standard error and ends the process with exit status 1. Leftover spill
//!   directories and temporary outputs are removed by the next run
//!   ([`crate::spill_dir`]);
//! * a fault outside every registered mapping restores the default action, so it
//!   crashes as it always would have.
//!
//! Memory: a fixed table of 256 slots; a message per open mapping. Unix only; elsewhere
//! registering does nothing.

use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 256;

struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    message: AtomicPtr<u8>,
    message_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    message: AtomicPtr::new(std::ptr::null_mut()),
    message_len: AtomicUsize::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// A registered mapping; unregistered on drop.
#[derive(Debug)]
pub(crate) struct MappedRange {
    slot: Option<usize>,
    /// The text the handler writes; owned here so it lives as long as the slot.
    _message: Box<[u8]>,
}

impl MappedRange {
    /// Registers `bytes` (a memory map of `path`). With every slot taken the mapping is
    /// simply not covered.
    pub fn register(path: &Path, bytes: &[u8]) -> MappedRange {
        install();
        let mut message = format!(
            "error: {} was truncated or replaced by another process while floe read it \
             (the file must not change during a query)\n",
            path.display()
        )
        .into_bytes()
        .into_boxed_slice();
        let start = bytes.as_ptr() as usize;
        let end = start + bytes.len();
        let mut slot = None;
        for (i, s) in TABLE.iter().enumerate() {
            if s.start
                .compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                s.message_len.store(message.len(), Ordering::Release);
                s.message.store(message.as_mut_ptr(), Ordering::Release);
                s.end.store(end, Ordering::Release);
                slot = Some(i);
                break;
            }
        }
        MappedRange {
            slot,
            _message: message,
        }
    }
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let s = &TABLE[i];
            s.end.store(0, Ordering::Release);
            s.message.store(std::ptr::null_mut(), Ordering::Release);
            s.message_len.store(0, Ordering::Release);
            s.start.store(0, Ordering::Release);
        }
    }
}

#[cfg(unix)]
fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a plain sigaction call with a handler that only reads atomics and
        // calls write(2) and _exit(2), both async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

#[cfg(not(unix))]
fn install() {}

#[cfg(unix)]
extern "C" fn on_sigbus(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let address = unsafe { (*info).si_addr() } as usize;
    for s in TABLE.iter() {
        let (start, end) = (
            s.start.load(Ordering::Acquire),
            s.end.load(Ordering::Acquire),
        );
        if start != 0 && (start..end).contains(&address) {
            let message = s.message.load(Ordering::Acquire);
            let len = s.message_len.load(Ordering::Acquire);
            if !message.is_null() {
                // SAFETY: the message lives as long as its registration, which the
                // faulting read is inside of.
                unsafe {
                    libc::write(2, message as *const libc::c_void, len);
                }
            }
            // SAFETY: ends the process at once, running no destructors.
            unsafe { libc::_exit(1) }
        }
    }
    // Not one of ours: the default action, on return the access faults again.
    // SAFETY: resetting a signal's disposition is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
