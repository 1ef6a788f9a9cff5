//! A map's entries in two parts: a **dense** part holding the values of the
//! keys 0, 1, 2, … as a plain vector (indexed, never hashed: Lua keeps such
//! keys in its table's array part), and a **hashed** part, insertion-ordered,
//! for every other key.
//!
//! # Invariants
//!
//! - The dense part holds exactly the keys `0 .. dense.len()`; none of them
//!   is in the hashed part.
//! - Every dense key was inserted before every hashed key: the dense part
//!   grows (key `dense.len()` appended) only while the hashed part is empty.
//!   So the entries in insertion order are the dense ones, in key order, then
//!   the hashed ones in theirs, which is the order a map iterates in.
//! - Removing the last dense key keeps both; removing another one moves the
//!   whole dense part to the front of the hashed part first (rare: a map
//!   filled in order and then punched).

use indexmap::IndexMap;

use super::map::Key;
use crate::value::Value;

type Hashed<'gc> = IndexMap<Key<'gc>, Value<'gc>, ahash::RandomState>;

/// A map's entries (see the module).
pub(crate) struct Table<'gc> {
    dense: Vec<Value<'gc>>,
    hashed: Hashed<'gc>,
}

/// The dense index `key` would have: a whole number from 0 that fits in 32
/// bits.
#[inline(always)]
fn dense_index(key: Key<'_>) -> Option<usize> {
    let n = key.value().as_num()?;
    if !(0.0..4_294_967_296.0).contains(&n) {
        return None;
    }
    let i = n as u32;
    (f64::from(i) == n).then_some(i as usize)
}

impl<'gc> Table<'gc> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Table { dense: Vec::new(), hashed: IndexMap::with_hasher(ahash::RandomState::new()) }
    }

    /// The value of `key`, if present.
    #[inline(always)]
    pub(crate) fn get(&self, key: Key<'gc>) -> Option<Value<'gc>> {
        if let Some(v) = dense_index(key).and_then(|i| self.dense.get(i)) {
            return Some(*v);
        }
        self.hashed_get(key)
    }

    /// The value of `key` in the hashed part (empty in the common case of a
    /// map with dense keys only, checked before hashing).
    #[inline]
    fn hashed_get(&self, key: Key<'gc>) -> Option<Value<'gc>> {
        if self.hashed.is_empty() { None } else { self.hashed.get(&key).copied() }
    }

    /// The value of `key`, to replace in place, if present.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, key: Key<'gc>) -> Option<&mut Value<'gc>> {
        if let Some(i) = dense_index(key).filter(|&i| i < self.dense.len()) {
            return Some(&mut self.dense[i]);
        }
        if self.hashed.is_empty() { None } else { self.hashed.get_mut(&key) }
    }

    /// Sets `key` to `value`; its old value if it had one (it keeps its
    /// place), else it is added last.
    pub(crate) fn insert(&mut self, key: Key<'gc>, value: Value<'gc>) -> Option<Value<'gc>> {
        if let Some(old) = self.get_mut(key) {
            return Some(core::mem::replace(old, value));
        }
        if self.hashed.is_empty() && dense_index(key) == Some(self.dense.len()) {
            self.dense.push(value);
            return None;
        }
        self.hashed.insert(key, value)
    }

    /// Removes `key`, returning its value; the others keep their order.
    pub(crate) fn remove(&mut self, key: Key<'gc>) -> Option<Value<'gc>> {
        match dense_index(key).filter(|&i| i < self.dense.len()) {
            Some(i) if i + 1 == self.dense.len() => self.dense.pop(),
            Some(_) => {
                self.spill_dense();
                self.hashed.shift_remove(&key)
            }
            None => self.hashed.shift_remove(&key),
        }
    }

    /// Moves the dense part to the front of the hashed part.
    fn spill_dense(&mut self) {
        let mut hashed = IndexMap::with_capacity_and_hasher(self.len(), self.hashed.hasher().clone());
        for (i, v) in self.dense.drain(..).enumerate() {
            let key = Key::new(Value::num(i as f64)).expect("an index is a valid key");
            hashed.insert(key, v);
        }
        hashed.extend(self.hashed.drain(..));
        self.hashed = hashed;
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.dense.len() + self.hashed.len()
    }

    /// The entries, in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Value<'gc>, Value<'gc>)> + '_ {
        let dense = self.dense.iter().enumerate().map(|(i, v)| (Value::num(i as f64), *v));
        dense.chain(self.hashed.iter().map(|(k, v)| (k.value(), *v)))
    }

    /// The values and the hashed keys: every reference the table holds.
    pub(crate) fn references(&self) -> impl Iterator<Item = Value<'gc>> + '_ {
        self.dense.iter().copied().chain(self.hashed.iter().flat_map(|(k, v)| [k.value(), *v]))
    }

    /// Hands `visit` the references of the entries from position `from`
    /// on (the dense values, then the hashed entries' keys and values, in
    /// `references`' order), as many whole entries as make at most `limit`
    /// references; returns the position after the last entry visited if
    /// entries remain. Positions are stable while entries are set (a new
    /// key goes last); only a delete moves entries, and it takes the
    /// backward barrier, which traces the map whole first.
    pub(crate) fn references_from(
        &self,
        from: usize,
        limit: usize,
        mut visit: impl FnMut(Value<'gc>),
    ) -> Option<usize> {
        let (dense, total) = (self.dense.len(), self.dense.len() + self.hashed.len());
        let (mut visited, mut at) = (0, from);
        while at < total {
            let refs = if at < dense { 1 } else { 2 };
            if visited + refs > limit {
                break;
            }
            if at < dense {
                visit(self.dense[at]);
            } else {
                let (key, value) = self.hashed.get_index(at - dense).expect("a position below the entries' count");
                visit(key.value());
                visit(*value);
            }
            (visited, at) = (visited + refs, at + 1);
        }
        (at < total).then_some(at)
    }

    /// Bytes the table owns: the dense vector and the hashed part's entries
    /// (key, value, hash) and index.
    pub(crate) fn bytes(&self) -> usize {
        self.dense.capacity() * size_of::<Value<'_>>()
            + self.hashed.capacity() * (size_of::<Key<'_>>() + size_of::<Value<'_>>() + 2 * size_of::<usize>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: f64) -> Key<'static> {
        Key::new(Value::num(n)).unwrap()
    }

    #[test]
    fn references_are_copied_in_parts_of_whole_entries_in_their_order() {
        let mut table = Table::new();
        for (k, v) in [(0.0, 100.0), (1.0, 101.0), (10.5, 102.0), (-1.0, 103.0)] {
            table.insert(key(k), Value::num(v));
        }
        let mut copied = Vec::new();
        let (mut from, mut parts) = (Some(0), Vec::new());
        while let Some(at) = from {
            let before = copied.len();
            from = table.references_from(at, 3, |v| copied.push(v));
            parts.push((at, copied.len() - before));
        }
        // Two dense values, then a hashed entry's key and value: the second
        // hashed entry does not fit in the first part's last slot.
        assert_eq!(parts, [(0, 2), (2, 2), (3, 2)]);
        assert_eq!(copied, table.references().collect::<Vec<_>>(), "every reference, once, in order");
        let mut past = Vec::new();
        assert_eq!((table.references_from(4, 3, |v| past.push(v)), past.len()), (None, 0), "past the end: nothing");
    }
}
