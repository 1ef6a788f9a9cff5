//! Chan: a channel between maatines, buffered (`Chan.new(n)`) or
//! rendezvous (`Chan.new(0)`).
//!
//! # State (under the channel's mutex)
//!
//! ```text
//!   buffer     values sent and not yet received (raw bits of global values)
//!   receivers  wakers of maatines waiting to receive; `waiting` counts them
//!   senders    wakers of maatines waiting for room
//!   closed     set once by `close`
//! ```
//!
//! A send completes when `buffer.len() < cap + waiting`: there is room, or a
//! receiver is already waiting for the value (that is the rendezvous of a
//! zero-capacity channel). Every blocked operation queues a waker and is
//! retried when woken; a woken receiver may find the value taken by another
//! and wait again. Each state change that can let a waiter proceed wakes it:
//! a send wakes one receiver, a receive (or a receiver starting to wait)
//! wakes one sender, `close` wakes everyone.
//!
//! Values pass by ownership: the interpreter transfers an unshared value's
//! subgraph (maat-gc's `transfer`) before `push` stores it, under the mutex,
//! and the receiver claims it after `pop`; the mutex publishes both.

use maat_sync::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::task::Waker;

use maat_gc::{Gc, Trace, Tracer};

use super::{Ctx, kind};
use crate::value::Value;

/// The channel's state; see the module documentation.
pub struct ChanState {
    buffer: VecDeque<u64>,
    receivers: VecDeque<Waker>,
    waiting: usize,
    senders: VecDeque<Waker>,
    closed: bool,
}

/// A Maat channel.
pub struct Chan {
    cap: usize,
    state: Mutex<ChanState>,
}

// SAFETY: traces every buffered value under the mutex (values in the buffer
// are global: transferred, shared or frozen before they were pushed).
unsafe impl Trace for Chan {
    fn trace(&self, t: &mut Tracer) {
        for bits in &self.lock().buffer {
            // SAFETY: buffered values stay alive through this trace.
            unsafe { Value::from_raw_bits(*bits) }.trace(t);
        }
    }
}

/// What a receive found.
pub enum Received {
    /// A value (raw bits, to be claimed by the receiver).
    Value(u64),
    /// The channel is closed and empty.
    Closed,
    /// Nothing yet (the waker was queued, if one was given).
    Empty,
}

/// Why a send cannot complete.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// No room: the waker was queued.
    Full,
    /// The channel was closed.
    Closed,
}

impl Chan {
    /// Allocates a channel of capacity `cap`.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, cap: usize) -> Gc<'gc, Chan> {
        let state = ChanState {
            buffer: VecDeque::new(),
            receivers: VecDeque::new(),
            waiting: 0,
            senders: VecDeque::new(),
            closed: false,
        };
        ctx.mc.alloc_kind(Chan { cap, state: Mutex::new(state) }, kind::CHAN)
    }

    fn lock(&self) -> MutexGuard<'_, ChanState> {
        self.state.lock()
    }

    /// Sends the value `publish` returns (called under the mutex, once the
    /// send is sure to complete, so that a blocked send transfers nothing);
    /// otherwise queues `waker`.
    pub fn send(&self, waker: impl FnOnce() -> Waker, publish: impl FnOnce() -> u64) -> Result<(), SendError> {
        let mut s = self.lock();
        if s.closed {
            return Err(SendError::Closed);
        }
        if s.buffer.len() >= self.cap + s.waiting {
            s.senders.push_back(waker());
            return Err(SendError::Full);
        }
        s.buffer.push_back(publish());
        if let Some(r) = s.receivers.pop_front() {
            s.waiting -= 1;
            r.wake();
        }
        Ok(())
    }

    /// Receives a value; if there is none and `waker` is given, queues it.
    pub fn recv(&self, waker: Option<impl FnOnce() -> Waker>) -> Received {
        let mut s = self.lock();
        if let Some(bits) = s.buffer.pop_front() {
            if let Some(w) = s.senders.pop_front() {
                w.wake();
            }
            return Received::Value(bits);
        }
        if s.closed {
            return Received::Closed;
        }
        if let Some(waker) = waker {
            s.receivers.push_back(waker());
            s.waiting += 1;
            // A sender blocked on a rendezvous can now proceed.
            if let Some(w) = s.senders.pop_front() {
                w.wake();
            }
        }
        Received::Empty
    }

    /// Closes the channel and wakes every waiter. Closing twice is allowed.
    pub fn close(&self) {
        let mut guard = self.lock();
        let s = &mut *guard;
        s.closed = true;
        s.waiting = 0;
        let waiters: Vec<Waker> = s.receivers.drain(..).chain(s.senders.drain(..)).collect();
        drop(guard);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.lock().buffer.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.cap
    }
}
