//! PMap: a persistent (immutable) map. Every operation that changes it
//! returns a new map and leaves the old one as it was; the two share every
//! node the change did not touch.
//!
//! # Layout: a hash array mapped trie (CHAMP)
//!
//! Each [`PNode`] covers 5 bits of the keys' 64-bit hashes: `datamap` marks
//! the slots that hold an entry (key and value, in the items' front, in bit
//! order), `nodemap` those that hold a child node (after the entries). A key
//! is found by following its hash five bits at a time: a lookup or an update
//! touches ⌈log32 n⌉ nodes on average. Keys whose whole hashes are equal
//! meet in a collision node below the 64th bit (its entries in a list).
//!
//! Keys compare as a `Map`'s do (numbers by value, strings by text, other
//! objects by identity). Iteration follows the hashes: it is not the order
//! of insertion (and, since string hashes are seeded per process, it may
//! differ from run to run; `show` prints the entries sorted).
//!
//! # Invariant (canonical shape)
//!
//! A node below the root holds at least two entries or one child: a delete
//! that leaves a child with a single entry moves the entry up into the
//! parent. So equal maps made by different histories have the same nodes'
//! shapes, and no path is longer than its keys need.

use maat_gc::{Gc, Trace};

use super::map::Key;
use super::pnode::{Birth, Items, Maker, PNode, below};
use super::{Ctx, ObjError, kind};
use crate::value::Value;

const BITS: u32 = 5;

/// How a key is hashed ([`hash`]; tests give keys equal hashes).
type Hasher<'gc> = fn(Key<'gc>) -> u64;

/// A persistent map.
#[derive(Trace)]
pub struct PMap<'gc> {
    len: usize,
    /// The root node, or nil when empty.
    root: Value<'gc>,
}

/// A key's 64-bit hash: a long string's own (of its text), a number's
/// bits or an object's address (an interned string's too: it is the one
/// object of its text, and its value's tag says so without a read of the
/// string), mixed (splitmix64) so that every 5-bit slice varies.
fn hash(key: Key<'_>) -> u64 {
    let bits = match key.long_string() {
        Some(s) => s.hash_code(),
        None => key.value().to_bits(),
    };
    let mut z = bits.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether `stored`, a key of the map, is `key`: the same bits (a number, or
/// the same object) at once, else the same text.
#[inline(always)]
fn is_key<'gc>(stored: Value<'gc>, key: Key<'gc>) -> bool {
    stored == key.value() || same_text(stored, key)
}

/// Whether `stored` is `key` by text (out of the walks' way: short strings
/// are one object for one text, so the bits decide most comparisons).
#[cold]
#[inline(never)]
fn same_text<'gc>(stored: Value<'gc>, key: Key<'gc>) -> bool {
    Key::new(stored).is_ok_and(|k| k == key)
}

/// The one bit of a node's bitmaps that the hash `h` picks at level
/// `shift`. (The shift is masked, as `shr` does: past the 64th bit only
/// collision nodes are left, whose bitmaps are 0, so the bit is never
/// used there.)
#[inline(always)]
fn frag(h: u64, shift: u32) -> u32 {
    1 << (h.wrapping_shr(shift) & 31)
}

/// The value of `key` in the collision node `node`, if there.
#[cold]
#[inline(never)]
fn in_collision<'gc>(node: &PNode<'gc>, key: Key<'gc>) -> Option<Value<'gc>> {
    node.items().chunks(2).find(|e| is_key(e[0], key)).map(|e| e[1])
}

/// What an update of a node did.
enum Change<'gc> {
    /// Nothing: the key was absent (delete) or had that value (put).
    None,
    /// The node was replaced; `grew` says whether an entry was added or
    /// removed.
    Node(Value<'gc>, bool),
    /// (Delete) The node is left with one entry, which moves to the parent.
    Single(Value<'gc>, Value<'gc>),
    /// (Delete) Nothing is left of the node.
    Empty,
}

impl<'gc> PMap<'gc> {
    /// The empty map.
    pub fn empty(ctx: &Ctx<'_, 'gc>) -> Gc<'gc, PMap<'gc>> {
        Self::make(ctx, 0, Value::nil())
    }

    /// A map of `entries` (a key given twice keeps its last value), built
    /// at once: each node is made once, children before their parent, so
    /// a map loaded in bulk has its nodes together in memory and leaves no
    /// garbage (a map grown by `put` leaves each replaced path behind).
    pub fn of(ctx: &Ctx<'_, 'gc>, entries: &[(Value<'gc>, Value<'gc>)]) -> Result<Gc<'gc, PMap<'gc>>, ObjError> {
        let mut keyed = Vec::with_capacity(entries.len());
        for (i, (k, v)) in entries.iter().enumerate() {
            let key = Key::new(*k)?;
            keyed.push((hash(key), i, key, *v));
        }
        // Equal keys have equal hashes: sorted by hash, then by position,
        // the last of equal keys is the one kept.
        keyed.sort_by_key(|e| (e.0, e.1));
        let mut unique: Vec<(u64, Key<'gc>, Value<'gc>)> = Vec::with_capacity(keyed.len());
        for (h, _, key, v) in keyed {
            match unique.iter().rev().take_while(|e| e.0 == h).position(|e| e.1 == key) {
                Some(back) => {
                    let at = unique.len() - 1 - back;
                    unique[at].2 = v;
                }
                None => unique.push((h, key, v)),
            }
        }
        if unique.is_empty() {
            return Ok(Self::empty(ctx));
        }
        let root = build(ctx, &unique, 0);
        Ok(Self::make(ctx, unique.len(), root))
    }

    fn make(ctx: &Ctx<'_, 'gc>, len: usize, root: Value<'gc>) -> Gc<'gc, PMap<'gc>> {
        ctx.mc.alloc_kind(PMap { len, root }, kind::PMAP)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `key`, if present.
    #[inline(always)]
    pub fn get(&self, key: Value<'gc>) -> Result<Option<Value<'gc>>, ObjError> {
        Self::get_in(self.root, key)
    }

    /// The value of `key` in the map whose root node is `root`. (The
    /// caller passes the root, not the map: the interpreter's fast loop is
    /// sensitive to the bytes of its call sites, and this is the code it
    /// had when `get` took the map.) A level counts the bits of one
    /// bitmap; x86-64's baseline has no population count instruction, and
    /// a count without it is about 15 instructions, so where the processor
    /// has one the whole lookup (key, hash and walk) is compiled a second
    /// time to use it (`std` caches the check).
    #[inline(never)]
    fn get_in(root: Value<'gc>, key: Value<'gc>) -> Result<Option<Value<'gc>>, ObjError> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the processor has the instruction that `get_popcnt`
            // is compiled to use (checked just above).
            return unsafe { Self::get_popcnt(root, key) };
        }
        Self::get_plain(root, key)
    }

    /// [`PMap::get_in`] compiled without the population count instruction
    /// (out of line: `get_in` is then one test and a jump either way).
    #[inline(never)]
    fn get_plain(root: Value<'gc>, key: Value<'gc>) -> Result<Option<Value<'gc>>, ObjError> {
        let key = Key::new(key)?;
        Ok(Self::walk(root, key, hash(key)))
    }

    /// [`PMap::get_in`] compiled with the population count instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn get_popcnt(root: Value<'gc>, key: Value<'gc>) -> Result<Option<Value<'gc>>, ObjError> {
        let key = Key::new(key)?;
        Ok(Self::walk_popcnt(root, key, hash(key)))
    }

    /// The value of `key`, whose hash is `h` (tests give keys equal hashes),
    /// checked against the walk compiled without `popcnt`.
    #[cfg(test)]
    fn get_hashed(&self, key: Key<'gc>, h: u64) -> Option<Value<'gc>> {
        let found = Self::walk(self.root, key, h);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("popcnt") {
            // SAFETY: as in `get_in`.
            let with = unsafe { Self::walk_popcnt(self.root, key, h) };
            assert_eq!(found, with, "the two compilations of the walk disagree");
        }
        found
    }

    /// [`PMap::walk`] compiled with the population count instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    #[inline]
    fn walk_popcnt(root: Value<'gc>, key: Key<'gc>, h: u64) -> Option<Value<'gc>> {
        Self::walk(root, key, h)
    }

    /// The value of `key`, whose hash is `h`, in the map whose root node is
    /// `root`: down the trie five bits of the hash a level. A collision
    /// node has no bitmaps, so a walk that reaches one finds neither bit
    /// and looks at it only then: the test is off the levels' path, as is
    /// the comparison of keys by text.
    #[inline(always)]
    fn walk(root: Value<'gc>, key: Key<'gc>, h: u64) -> Option<Value<'gc>> {
        if root.is_nil() {
            return None;
        }
        let (mut node, mut shift) = (PNode::of(root), 0);
        loop {
            let bit = frag(h, shift);
            if let Some((stored, value)) = node.entry_at(bit) {
                return is_key(stored, key).then_some(value);
            }
            let Some(child) = node.child_at(bit) else {
                return if node.head().collision { in_collision(node, key) } else { None };
            };
            PNode::prefetch(child);
            node = PNode::of(child);
            shift += BITS;
        }
    }

    /// The map with `key` set to `value`.
    pub fn put(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        key: Value<'gc>,
        value: Value<'gc>,
    ) -> Result<Gc<'gc, PMap<'gc>>, ObjError> {
        Self::put_as(this, ctx, Birth::Plain, key, value)
    }

    /// [`PMap::put`], making what it makes as `birth` says.
    pub fn put_as(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        birth: Birth,
        key: Value<'gc>,
        value: Value<'gc>,
    ) -> Result<Gc<'gc, PMap<'gc>>, ObjError> {
        let key = Key::new(key)?;
        let make = Maker::new(ctx, birth, this.into(), &[key.value(), value]);
        Ok(Self::put_hashed(this, &make, (key, hash(key)), value, hash))
    }

    /// `put` of `key`, whose hash is `h`, where `hash_of` gives the hash of
    /// a key already in the map.
    fn put_hashed(
        this: Gc<'gc, Self>,
        make: &Maker<'_, '_, 'gc>,
        (key, h): (Key<'gc>, u64),
        value: Value<'gc>,
        hash_of: Hasher<'gc>,
    ) -> Gc<'gc, PMap<'gc>> {
        let p = Gc::get(this);
        if p.root.is_nil() {
            let root = make.node((frag(h, 0), 0, false), &[key.value(), value]);
            return make.made(Self::make(make.ctx(), 1, root));
        }
        match put_in(make, PNode::of(p.root), 0, (key, h), value, hash_of) {
            Change::Node(root, grew) => make.made(Self::make(make.ctx(), p.len + usize::from(grew), root)),
            _ => this,
        }
    }

    /// The map without `key` (the same map if it has no such key).
    pub fn delete(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, key: Value<'gc>) -> Result<Gc<'gc, PMap<'gc>>, ObjError> {
        Self::delete_as(this, ctx, Birth::Plain, key)
    }

    /// [`PMap::delete`], making what it makes as `birth` says.
    pub fn delete_as(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        birth: Birth,
        key: Value<'gc>,
    ) -> Result<Gc<'gc, PMap<'gc>>, ObjError> {
        let key = Key::new(key)?;
        Ok(Self::delete_hashed(this, &Maker::new(ctx, birth, this.into(), &[]), (key, hash(key))))
    }

    fn delete_hashed(this: Gc<'gc, Self>, make: &Maker<'_, '_, 'gc>, (key, h): (Key<'gc>, u64)) -> Gc<'gc, PMap<'gc>> {
        let p = Gc::get(this);
        if p.root.is_nil() {
            return this;
        }
        match delete_in(make, PNode::of(p.root), 0, (key, h)) {
            Change::None => this,
            Change::Empty => make.made(Self::empty(make.ctx())),
            Change::Node(root, _) => make.made(Self::make(make.ctx(), p.len - 1, root)),
            // (Only a node below the root gives its last entry up.)
            Change::Single(..) => unreachable!("the root keeps its last entry"),
        }
    }

    /// The entries, in the trie's order.
    pub fn entries(&self) -> Vec<(Value<'gc>, Value<'gc>)> {
        let mut out = Vec::with_capacity(self.len);
        if !self.root.is_nil() {
            collect(PNode::of(self.root), &mut out);
        }
        out
    }
}

fn collect<'gc>(node: &PNode<'gc>, out: &mut Vec<(Value<'gc>, Value<'gc>)>) {
    let (head, items) = (node.head(), node.items());
    let data = if head.collision { items.len() / 2 } else { usize::from(head.entries) };
    out.extend(items[..2 * data].chunks(2).map(|e| (e[0], e[1])));
    items[2 * data..].iter().for_each(|c| collect(PNode::of(*c), out));
}

/// The node of `entries` (distinct keys, at least one, all in the same slot
/// of the levels above) at level `shift`: one entry per slot inline, a
/// child for a slot of several.
fn build<'gc>(ctx: &Ctx<'_, 'gc>, entries: &[(u64, Key<'gc>, Value<'gc>)], shift: u32) -> Value<'gc> {
    if shift >= 64 {
        let items: Items = entries.iter().flat_map(|e| [e.1.value(), e.2]).collect();
        return PNode::value(PNode::alloc(ctx, (0, 0, true), &items));
    }
    let mut slots: [Vec<usize>; 32] = Default::default();
    for (i, e) in entries.iter().enumerate() {
        slots[((e.0 >> shift) & 31) as usize].push(i);
    }
    let (mut datamap, mut nodemap) = (0u32, 0u32);
    let (mut data, mut children) = (Items::new(), Items::new());
    for (slot, members) in slots.iter().enumerate() {
        match members.as_slice() {
            [] => {}
            [one] => {
                datamap |= 1 << slot;
                data.extend([entries[*one].1.value(), entries[*one].2]);
            }
            many => {
                nodemap |= 1 << slot;
                let group: Vec<_> = many.iter().map(|&i| entries[i]).collect();
                children.push(build(ctx, &group, shift + BITS));
            }
        }
    }
    data.extend(children);
    PNode::value(PNode::alloc(ctx, (datamap, nodemap, false), &data))
}

/// A node of the two entries `a` and `b` (whose keys differ) at `shift`.
fn pair<'gc>(
    make: &Maker<'_, '_, 'gc>,
    shift: u32,
    a: (Value<'gc>, u64, Value<'gc>),
    b: (Value<'gc>, u64, Value<'gc>),
) -> Value<'gc> {
    if shift >= 64 {
        return make.node((0, 0, true), &[a.0, a.2, b.0, b.2]);
    }
    let (fa, fb) = (frag(a.1, shift), frag(b.1, shift));
    if fa == fb {
        let child = pair(make, shift + BITS, a, b);
        return make.node((0, fa, false), &[child]);
    }
    let items = if fa < fb { [a.0, a.2, b.0, b.2] } else { [b.0, b.2, a.0, a.2] };
    make.node((fa | fb, 0, false), &items)
}

fn put_in<'gc>(
    make: &Maker<'_, '_, 'gc>,
    node: &PNode<'gc>,
    shift: u32,
    (key, h): (Key<'gc>, u64),
    value: Value<'gc>,
    hash_of: Hasher<'gc>,
) -> Change<'gc> {
    let (head, items) = (node.head(), node.items());
    let mut new = Items::from_slice(items);
    if head.collision {
        match items.chunks(2).position(|e| is_key(e[0], key)) {
            Some(i) if items[2 * i + 1] == value => return Change::None,
            Some(i) => new[2 * i + 1] = value,
            None => new.extend([key.value(), value]),
        }
        let grew = new.len() > items.len();
        return Change::Node(make.node((0, 0, true), &new), grew);
    }
    let bit = frag(h, shift);
    let data = usize::from(head.entries);
    let (mut datamap, mut nodemap) = (head.datamap, head.nodemap);
    let grew = if head.datamap & bit != 0 {
        let i = 2 * below(head.datamap, bit);
        let other = Key::new(items[i]).expect("a stored key is valid");
        if other == key {
            if items[i + 1] == value {
                return Change::None;
            }
            new[i + 1] = value;
            false
        } else {
            // Two keys in one slot: a child holds both, one level down.
            let child = pair(make, shift + BITS, (items[i], hash_of(other), items[i + 1]), (key.value(), h, value));
            new.drain(i..i + 2);
            datamap ^= bit;
            nodemap |= bit;
            new.insert(2 * (data - 1) + below(nodemap, bit), child);
            true
        }
    } else if head.nodemap & bit != 0 {
        let c = 2 * data + below(head.nodemap, bit);
        match put_in(make, PNode::of(items[c]), shift + BITS, (key, h), value, hash_of) {
            Change::Node(child, grew) => {
                new[c] = child;
                grew
            }
            _ => return Change::None,
        }
    } else {
        let i = 2 * below(head.datamap, bit);
        new.insert_many(i, [key.value(), value]);
        datamap |= bit;
        true
    };
    Change::Node(make.node((datamap, nodemap, false), &new), grew)
}

fn delete_in<'gc>(make: &Maker<'_, '_, 'gc>, node: &PNode<'gc>, shift: u32, (key, h): (Key<'gc>, u64)) -> Change<'gc> {
    let (head, items) = (node.head(), node.items());
    if head.collision {
        let Some(i) = items.chunks(2).position(|e| is_key(e[0], key)) else { return Change::None };
        let mut new = Items::from_slice(items);
        new.drain(2 * i..2 * i + 2);
        return match new.len() {
            2 => Change::Single(new[0], new[1]),
            _ => Change::Node(make.node((0, 0, true), &new), true),
        };
    }
    let bit = frag(h, shift);
    let data = usize::from(head.entries);
    let mut new = Items::from_slice(items);
    let (mut datamap, mut nodemap) = (head.datamap, head.nodemap);
    if head.datamap & bit != 0 {
        let i = 2 * below(head.datamap, bit);
        if !is_key(items[i], key) {
            return Change::None;
        }
        new.drain(i..i + 2);
        datamap ^= bit;
    } else if head.nodemap & bit != 0 {
        let c = 2 * data + below(head.nodemap, bit);
        match delete_in(make, PNode::of(items[c]), shift + BITS, (key, h)) {
            Change::None => return Change::None,
            Change::Node(child, _) => new[c] = child,
            Change::Empty => {
                new.remove(c);
                nodemap ^= bit;
            }
            Change::Single(k, v) => {
                // The child's last entry moves up into this node.
                new.remove(c);
                nodemap ^= bit;
                let i = 2 * below(datamap, bit);
                new.insert_many(i, [k, v]);
                datamap |= bit;
            }
        }
    } else {
        return Change::None;
    }
    match (datamap.count_ones(), nodemap) {
        (0, 0) => Change::Empty,
        (1, 0) if shift > 0 => Change::Single(new[0], new[1]),
        _ => Change::Node(make.node((datamap, nodemap, false), &new), true),
    }
}

#[cfg(test)]
mod tests {
    //! Collision nodes, which real hashes almost never reach: keys given
    //! equal (or nearly equal) hashes by hand.

    use maat_gc::{Config, Heap, Root};
    use maat_sync::World;

    use super::*;
    use crate::object::SyncStats;

    struct Nothing;
    impl Root for Nothing {
        type Of<'gc> = ();
    }

    /// Runs `f` in a fresh heap, single-threaded.
    fn in_a_heap(f: impl for<'gc> FnOnce(&Ctx<'_, 'gc>)) {
        let (world, stats) = (World::new(), SyncStats::default());
        let heap = Heap::<Nothing>::new(Config::default(), |_| ());
        heap.mutate(|mc, _| f(&Ctx { mc, mode: world.mode(), stats: &stats }));
    }

    /// Real hashes, enough keys for nodes three and four levels down: each
    /// lookup (through `get_hashed`) runs both compilations of the walk,
    /// for present keys and absent ones.
    #[test]
    fn both_walks_find_every_key_of_a_deep_trie_and_no_other() {
        in_a_heap(|cx| {
            let key = |i: u32| Key::new(Value::num(f64::from(i))).unwrap();
            let mut map = PMap::empty(cx);
            for i in 0..50_000 {
                map = PMap::put(map, cx, key(i).value(), Value::num(f64::from(i) * 2.0)).unwrap();
            }
            for i in 0..50_000 {
                let found = Gc::get(map).get_hashed(key(i), hash(key(i)));
                assert_eq!(found, Some(Value::num(f64::from(i) * 2.0)), "key {i}");
            }
            for i in 50_000..60_000 {
                assert_eq!(Gc::get(map).get_hashed(key(i), hash(key(i))), None, "absent key {i}");
            }
        });
    }

    #[test]
    fn keys_with_equal_hashes_meet_in_a_collision_node_and_leave_it() {
        in_a_heap(|cx| {
            let key = |i: u32| Key::new(Value::num(f64::from(i))).unwrap();
            // Keys 0..6 share one hash; 6..9 differ from it in the last slice only.
            fn fake(k: Key<'_>) -> u64 {
                let i = k.value().as_num().unwrap() as u64;
                if i < 6 { 0xABCD_EF01_2345_6789 } else { 0xABCD_EF01_2345_6789 ^ (i << 60) }
            }
            let h = |i: u32| fake(key(i));
            let mut map = PMap::empty(cx);
            let mut versions = vec![map];
            for i in 0..9 {
                map = PMap::put_hashed(map, &Maker::plain(cx), (key(i), h(i)), Value::num(f64::from(i * 10)), fake);
                for j in 0..=i {
                    assert!(
                        Gc::get(map).get_hashed(key(j), h(j)).is_some(),
                        "key {j} after putting {i}: {:?}",
                        Gc::get(map).entries()
                    );
                }
                versions.push(map);
            }
            assert_eq!(Gc::get(map).len(), 9);
            for i in 0..9 {
                assert_eq!(Gc::get(map).get_hashed(key(i), h(i)), Some(Value::num(f64::from(i * 10))), "key {i}");
            }
            assert_eq!(Gc::get(map).get_hashed(key(20), h(0)), None, "a missing key with a colliding hash");
            // Replacing a value in the collision node.
            let changed = PMap::put_hashed(map, &Maker::plain(cx), (key(2), h(2)), Value::num(-1.0), fake);
            assert_eq!(Gc::get(changed).get_hashed(key(2), h(2)), Some(Value::num(-1.0)));
            assert_eq!(Gc::get(map).get_hashed(key(2), h(2)), Some(Value::num(20.0)), "the old version is unchanged");
            // Deleting every key, the colliding ones last.
            for i in (0..9).rev() {
                map = PMap::delete_hashed(map, &Maker::plain(cx), (key(i), h(i)));
                assert_eq!(Gc::get(map).len(), i as usize);
                for j in 0..i {
                    assert!(Gc::get(map).get_hashed(key(j), h(j)).is_some(), "key {j} after deleting {i}");
                }
            }
            assert!(Gc::get(map).root.is_nil());
            // Every version kept its entries.
            for (n, v) in versions.iter().enumerate() {
                assert_eq!(Gc::get(*v).len(), n);
                assert_eq!(Gc::get(*v).entries().len(), n);
            }
        });
    }

    /// Interned strings are keys by identity (their tag), long ones by
    /// text: a map and a persistent map each find a key by a string of the
    /// same text, whichever object it is.
    #[test]
    fn strings_are_keys_by_text_whether_interned_or_long() {
        use crate::object::map::Map;
        use crate::object::string::Str;
        in_a_heap(|cx| {
            let text = |t: &str| Value::object(Str::alloc(cx, t).into());
            let short = "a short key";
            let long = "a key longer than the forty bytes that are interned";
            assert!(long.len() > crate::object::intern::MAX_SHORT);
            let (s1, s2, l1, l2) = (text(short), text(short), text(long), text(long));
            assert!(s1.is_interned_str() && s1 == s2, "one value for one short text");
            assert!(!l1.is_interned_str() && l1 != l2, "a long text makes a new object each time");
            let (map, mut pmap) = (Map::alloc(cx), PMap::empty(cx));
            for (k, v) in [(s1, 1.0), (l1, 2.0)] {
                Map::set(map, cx, k, Value::num(v)).unwrap();
                pmap = PMap::put(pmap, cx, k, Value::num(v)).unwrap();
            }
            for (k, v) in [(s2, 1.0), (l2, 2.0)] {
                assert_eq!(Map::get(map, cx, k).unwrap(), Value::num(v));
                assert_eq!(Gc::get(pmap).get(k).unwrap(), Some(Value::num(v)));
            }
            let other = text("another short key");
            assert_eq!(Map::get(map, cx, other).unwrap(), Value::nil());
            assert_eq!(Gc::get(pmap).get(other).unwrap(), None);
        });
    }
}
