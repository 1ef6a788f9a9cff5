//! Spare maatines: what a finished maatine leaves for the next spawn (its
//! heap's shell and its record), so that a program that starts and joins
//! many maatines calls the allocator for neither (nor for the buffers of
//! its registers and frames). The two blocks are the
//! largest a spawn makes (about 1 KB and 256 bytes), too large for the
//! system allocator's per-thread caches once a batch of maatines is alive,
//! and they are often freed on another thread than the one that made them.
//!
//! Each thread keeps up to `LOCAL` spares. Beyond that, half of them go to
//! a shared stock of at most `SHARED` (any more are freed), from which a
//! thread that has none takes half a local stock at a time: maatines are
//! often started on one thread and finish on another, so the stock moves
//! them back. (Go keeps its dead goroutines the same way: per processor,
//! with a global list between them.) A spare is memory only, no value: the
//! heap it held ended, its objects freed or adopted, before it became one.

use core::cell::RefCell;
use core::mem::MaybeUninit;

use maat_gc::Shell;
use maat_sync::Mutex;

use super::maatine::Maatine;
use super::{Buffers, Machine};

/// An ended maatine's memory (or new memory, by default).
pub(super) struct Spare {
    pub(super) heap: Shell<Machine>,
    pub(super) record: Box<MaybeUninit<Maatine>>,
    pub(super) buffers: Buffers,
}

impl Default for Spare {
    fn default() -> Self {
        Spare { heap: Shell::new(), record: Box::new_uninit(), buffers: Buffers::default() }
    }
}

/// The most spares a thread keeps.
const LOCAL: usize = 32;
/// The most spares the shared stock keeps.
const SHARED: usize = 256;

thread_local! {
    static KEPT: RefCell<Vec<Spare>> = const { RefCell::new(Vec::new()) };
}

/// Spares that threads gave beyond their own stock.
static STOCK: Stock = Stock::new();

/// A spare, from this thread's stock or else the shared one; `None` if
/// neither has one (or the thread is ending).
pub(super) fn take() -> Option<Spare> {
    KEPT.try_with(|kept| STOCK.take(&mut kept.borrow_mut())).ok().flatten()
}

/// Keeps `spare` for a later [`take`], on this thread or in the shared
/// stock; frees it (and any that do not fit) when both are full. What is
/// freed is freed here, outside the stock's lock (`spare` itself, if this
/// thread's stock is gone).
pub(super) fn give(spare: Spare) {
    let _freed = KEPT.try_with(|kept| STOCK.give(&mut kept.borrow_mut(), spare));
}

/// The shared stock, and how a thread's own stock (`kept`) trades with it.
struct Stock {
    shared: Mutex<Vec<Spare>>,
}

impl Stock {
    const fn new() -> Self {
        Stock { shared: Mutex::new(Vec::new()) }
    }

    /// The last spare `kept` has, after refilling it with up to half a
    /// stock from the shared one if it had none.
    fn take(&self, kept: &mut Vec<Spare>) -> Option<Spare> {
        if kept.is_empty() {
            let mut shared = self.shared.lock();
            let from = shared.len().saturating_sub(LOCAL / 2);
            kept.extend(shared.drain(from..));
        }
        kept.pop()
    }

    /// Keeps `spare` in `kept`, first moving half of a full `kept` to the
    /// shared stock; returns what did not fit there either, to be freed.
    fn give(&self, kept: &mut Vec<Spare>, spare: Spare) -> Vec<Spare> {
        let mut over = Vec::new();
        if kept.len() >= LOCAL {
            let mut moved = kept.drain(LOCAL / 2..);
            let mut shared = self.shared.lock();
            let room = SHARED.saturating_sub(shared.len());
            shared.extend(moved.by_ref().take(room));
            drop(shared);
            over.extend(moved);
        }
        kept.push(spare);
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare() -> Spare {
        Spare::default()
    }

    fn address(s: &Spare) -> usize {
        core::ptr::from_ref(&*s.record) as usize
    }

    #[test]
    fn a_thread_takes_back_what_it_gave_last_first() {
        let (stock, mut kept) = (Stock::new(), Vec::new());
        let (a, b) = (spare(), spare());
        let (at_a, at_b) = (address(&a), address(&b));
        assert!(stock.give(&mut kept, a).is_empty());
        assert!(stock.give(&mut kept, b).is_empty());
        assert_eq!(stock.take(&mut kept).map(|s| address(&s)), Some(at_b));
        assert_eq!(stock.take(&mut kept).map(|s| address(&s)), Some(at_a));
        assert!(stock.take(&mut kept).is_none());
    }

    #[test]
    fn what_one_thread_gives_beyond_its_stock_another_takes() {
        // Maatines finish on one thread (its stock overflows) and start on
        // another (whose stock is empty).
        let stock = Stock::new();
        let (mut finishing, mut starting) = (Vec::new(), Vec::new());
        let given: Vec<usize> = (0..LOCAL * 2)
            .map(|_| {
                let s = spare();
                let at = address(&s);
                assert!(stock.give(&mut finishing, s).is_empty());
                at
            })
            .collect();
        assert_eq!(finishing.len() + stock.shared.lock().len(), LOCAL * 2, "nothing freed while there is room");
        assert!(finishing.len() <= LOCAL);
        let mut taken = Vec::new();
        while let Some(s) = stock.take(&mut starting) {
            taken.push(address(&s));
        }
        assert_eq!(taken.len(), LOCAL * 2 - finishing.len(), "all the shared ones, half a stock at a time");
        assert!(taken.iter().all(|at| given.contains(at)));
    }

    #[test]
    fn buffers_are_kept_empty_and_only_up_to_their_bound() {
        use super::super::kept;
        let mut small: Vec<u64> = Vec::with_capacity(200);
        small.extend(0..150);
        let small: Vec<u64> = kept(small, 256);
        assert!(small.is_empty() && small.capacity() >= 200, "kept: empty, with its memory");
        let deep: Vec<u64> = Vec::with_capacity(10_000);
        let deep: Vec<u64> = kept(deep, 256);
        assert_eq!(deep.capacity(), 0, "a deep recursion's buffer is freed, not kept");
    }

    #[test]
    fn the_shared_stock_is_bounded_and_frees_the_rest() {
        let stock = Stock::new();
        let mut kept = Vec::new();
        let freed: usize = (0..SHARED * 2 + LOCAL).map(|_| stock.give(&mut kept, spare()).len()).sum();
        assert_eq!(stock.shared.lock().len(), SHARED);
        assert_eq!(freed + SHARED + kept.len(), SHARED * 2 + LOCAL);
    }
}
