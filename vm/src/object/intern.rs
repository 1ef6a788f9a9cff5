//! The string table: every short string (up to [`MAX_SHORT`] bytes) exists
//! once per runtime, so that equal short strings are one object: comparing
//! them is comparing addresses, and a program that makes the same key a
//! million times keeps one copy.
//!
//! # Design
//!
//! - **Sharded, read-shared.** The table is process-wide and split into
//!   64 shards by hash, each a hash table behind a reader-writer
//!   lock. A lookup takes its shard's lock shared: lookups never wait for
//!   each other, and two texts rarely share a shard. Only adding a text or
//!   removing a dead one takes a shard's lock exclusively, for one insert or
//!   remove.
//! - **Several runtimes.** Each entry keeps its runtime's space id; a
//!   lookup matches only its own space's strings.
//! - **Weak entries** (maat-gc's `weak` protocol). An interned string is
//!   shared from birth (any maatine may find it), so only shared
//!   collections free it. The table does not keep it alive: its `Drop`,
//!   which every sweep runs before releasing the memory, removes its entry
//!   under the shard's exclusive lock; a lookup, under the shared lock,
//!   upgrades the entry with [`Mutation::upgrade_weak`](maat_gc::Mutation),
//!   which refuses a string a shared collection condemned (the lookup then
//!   makes a new one and replaces the entry) and keeps one found during a
//!   shared marking.
//! - **No lock order to break.** A string is allocated and shared before
//!   its shard's exclusive lock is taken; under the locks nothing allocates,
//!   collects or waits for the collector. A sweep (the only place that
//!   takes a lock while collecting) runs at a safe point, outside any lookup.

use core::ptr::NonNull;
use maat_sync::RwLock;
use std::sync::LazyLock;

use hashbrown::HashTable;
use maat_gc::{Gc, GcAny, Mutation};

use super::string::Str;

/// Strings up to this many bytes are interned (Lua's limit too).
pub const MAX_SHORT: usize = 40;
/// Number of shards (a power of two).
const SHARDS: usize = 64;

/// An interned string: its hash, its runtime, and its addresses (the value,
/// to recognize it in `Drop`; the object, to upgrade).
struct Entry {
    hash: u64,
    space: u64,
    str: NonNull<Str>,
    raw: NonNull<()>,
}

// SAFETY: an entry's addresses are dereferenced only under its shard's
// lock, while the string's memory is valid (its `Drop` removes the entry
// under the exclusive lock before the memory is released).
unsafe impl Send for Entry {}
// SAFETY: as above.
unsafe impl Sync for Entry {}

impl Entry {
    fn is(&self, hash: u64, space: u64, text: &str) -> bool {
        // SAFETY: under the shard's lock (see `Entry`'s `Send`).
        self.hash == hash && self.space == space && unsafe { self.str.as_ref() }.as_str() == text
    }
}

type Shard = RwLock<HashTable<Entry>>;

static TABLE: [Shard; SHARDS] = [const { RwLock::new(HashTable::new()) }; SHARDS];

/// The hash of every string: seeded once per process, so that inputs
/// cannot be chosen to collide.
static HASHER: LazyLock<ahash::RandomState> = LazyLock::new(ahash::RandomState::new);

/// The bits of a hash that are always 0: a string's head keeps its flags
/// there (see `string::StrHead`). Bits no user of the hash needs: the
/// string table's shards take bits 32–37, hash tables (hashbrown's) their
/// low bits and the top seven, and maps and persistent maps mix the hash
/// again first.
pub const SPARE_BITS: u64 = 0b11 << 48;

/// The hash of a text (the same for equal texts), with [`SPARE_BITS`] 0.
pub fn hash(text: &str) -> u64 {
    HASHER.hash_one(text) & !SPARE_BITS
}

/// The shard of a hash: chosen by middle bits, since a shard's hash table
/// places entries by the low bits and tells them apart by the top seven.
fn shard(hash: u64) -> &'static Shard {
    &TABLE[(hash >> 32) as usize % SHARDS]
}

/// The interned string of `text` (whose hash is `hash`), made if needed.
/// `make` allocates a new `Str`.
pub(super) fn intern<'gc>(
    mc: &Mutation<'gc>,
    text: &str,
    hash: u64,
    make: impl FnOnce() -> Gc<'gc, Str>,
) -> Gc<'gc, Str> {
    let space = mc.space_id();
    let shard = shard(hash);
    if let Some(s) = find(mc, &shard.read(), hash, space, text) {
        return s;
    }
    let made = make();
    mc.share(made);
    let mut table = shard.write();
    if let Some(s) = find(mc, &table, hash, space, text) {
        // Another maatine added it meanwhile; `made` is garbage.
        return s;
    }
    // A condemned string of this text, if any, gives its place up (its
    // `Drop` will not find itself).
    if let Ok(dead) = table.find_entry(hash, |e| e.is(hash, space, text)) {
        dead.remove();
    }
    let entry = Entry { hash, space, str: NonNull::from(Gc::get(made)), raw: GcAny::from(made).as_raw() };
    table.insert_unique(hash, entry, |e| e.hash);
    made
}

/// The live interned string of `text` in `table`, if any.
fn find<'gc>(mc: &Mutation<'gc>, table: &HashTable<Entry>, hash: u64, space: u64, text: &str) -> Option<Gc<'gc, Str>> {
    let entry = table.find(hash, |e| e.is(hash, space, text))?;
    // SAFETY: `raw` is a shared `Str` of this space (interned strings are
    // shared before they are added), and the caller holds the shard's lock,
    // under which `forget` removes entries before their memory goes.
    let any = unsafe { mc.upgrade_weak(entry.raw) }?;
    // SAFETY: entries are `Str`s.
    Some(unsafe { any.downcast::<Str>() })
}

/// The string at `me`, whose hash is `hash`, is being freed: its entry, if
/// it has one, goes first.
pub(super) fn forget(hash: u64, me: NonNull<Str>) {
    if let Ok(entry) = shard(hash).write().find_entry(hash, |e| e.str == me) {
        entry.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_hashes_and_cover_the_table() {
        let used: std::collections::HashSet<_> =
            (0..10_000).map(|i| shard(hash(&format!("key{i}"))) as *const Shard).collect();
        assert_eq!(used.len(), SHARDS, "every shard is used");
    }
}
