//! [`Mutex`] and [`RwLock`]: the runtime's blocking locks for state kept
//! outside objects (the scheduler's tables, channel buffers, the heaps'
//! registry, the shared collector's gray queue, the string interner, and
//! maat-sync's own slow paths). They are parking_lot's (std's in the loom
//! build, which has no parking_lot), without poisoning: a panic in a worker
//! ends the whole run, so no one goes on to use what it left half done.
//! Each lock is a [`happens_after`] on the lock and each unlock a
//! [`happens_before`] (`annotate.rs`), so valgrind's race detectors see the
//! order it makes.

use crate::annotate::{happens_after, happens_before};
use core::ops::{Deref, DerefMut};

#[cfg(not(loom))]
type Inner<T> = parking_lot::Mutex<T>;
#[cfg(not(loom))]
type InnerGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(loom)]
type Inner<T> = std::sync::Mutex<T>;
#[cfg(loom)]
type InnerGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(not(loom))]
use parking_lot::{RwLock as InnerRw, RwLockReadGuard as InnerRead, RwLockWriteGuard as InnerWrite};
#[cfg(loom)]
use std::sync::{RwLock as InnerRw, RwLockReadGuard as InnerRead, RwLockWriteGuard as InnerWrite};

/// What a lock of the loom build's std locks returns, poisoned or not.
#[cfg(loom)]
fn unpoisoned<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}
#[cfg(not(loom))]
fn unpoisoned<G>(g: G) -> G {
    g
}

/// A mutual-exclusion lock that blocks the OS thread (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct Mutex<T>(Inner<T>);

/// Access to a [`Mutex`]'s value; the mutex is unlocked when it is dropped.
#[derive(Debug)]
pub struct MutexGuard<'a, T> {
    pub(crate) inner: InnerGuard<'a, T>,
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self(Inner::new(value))
    }

    /// Blocks until the mutex is free, then holds it until the guard drops.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY: only the address of the raw mutex is taken.
        #[cfg(not(loom))]
        crate::annotate::atomic_only(unsafe { self.0.raw() });
        let inner = unpoisoned(self.0.lock());
        happens_after(self);
        MutexGuard { inner, mutex: self }
    }

    /// The value, from its owner.
    pub fn into_inner(self) -> T {
        unpoisoned(self.0.into_inner())
    }

    /// The value, mutably, from its owner (no locking).
    pub fn get_mut(&mut self) -> &mut T {
        unpoisoned(self.0.get_mut())
    }
}

// (For the shim's condition variable, which the loom build replaces.)
#[cfg(not(loom))]
impl<T> MutexGuard<'_, T> {
    /// The guarded mutex.
    pub(crate) fn mutex(&self) -> &Mutex<T> {
        self.mutex
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Before `inner` unlocks (fields drop after this).
        happens_before(self.mutex);
    }
}

/// A readers-writer lock that blocks the OS thread (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct RwLock<T>(InnerRw<T>);

/// Shared access to a [`RwLock`]'s value, until it is dropped.
#[derive(Debug)]
pub struct RwLockReadGuard<'a, T> {
    inner: InnerRead<'a, T>,
    lock: &'a RwLock<T>,
}

/// Exclusive access to a [`RwLock`]'s value, until it is dropped.
#[derive(Debug)]
pub struct RwLockWriteGuard<'a, T> {
    inner: InnerWrite<'a, T>,
    lock: &'a RwLock<T>,
}

impl<T> RwLock<T> {
    /// A lock holding `value`.
    pub const fn new(value: T) -> Self {
        Self(InnerRw::new(value))
    }

    /// Blocks until no writer holds the lock, then shares it.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let inner = unpoisoned(self.0.read());
        happens_after(self);
        RwLockReadGuard { inner, lock: self }
    }

    /// Blocks until no one holds the lock, then holds it alone.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let inner = unpoisoned(self.0.write());
        happens_after(self);
        RwLockWriteGuard { inner, lock: self }
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // A reader's unlock too: a later writer comes after its reads.
        happens_before(self.lock);
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        happens_before(self.lock);
    }
}
