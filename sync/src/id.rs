//! Maatine identity as the sync layer sees it: a non-zero 64-bit number that
//! the scheduler assigns and never reuses within a runtime.

use core::fmt;
use core::num::NonZeroU64;

/// The id of a maatine (a lightweight VM thread). Lock holders and waiters
/// are maatines, not OS threads, because maatines migrate between threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MaatineId(NonZeroU64);

impl MaatineId {
    /// The largest id a variable lock can record (62 bits).
    pub const MAX: u64 = (1 << 62) - 1;

    /// An id from a non-zero number up to [`MaatineId::MAX`]; `None` otherwise.
    pub const fn new(id: u64) -> Option<Self> {
        if id > Self::MAX {
            return None;
        }
        match NonZeroU64::new(id) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for MaatineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "maatine {}", self.0)
    }
}
