//! Maat values in 8 bytes (NaN boxing), so that a value slot can be read and
//! written with one atomic access.
//!
//! # Encoding
//!
//! ```text
//!   any f64 that is not a negative quiet NaN   a number (NaNs are stored as
//!                                              the canonical positive qNaN)
//!   0xFFF8_0000_0000_0000                      nil
//!   0xFFF9_0000_0000_000b                      a boolean b
//!   0xFFFA_pppp_pppp_pppp                      an object at address p (48 bits)
//!   0xFFFB_pppp_pppp_pppp                      an interned string at address p
//! ```
//!
//! Numbers are exact integers up to 2^53 and print without a fraction when
//! integral. An object value holds a [`GcAny`]; the object's kind byte says
//! what it is. An interned (short) string is the one object of its text in
//! its runtime, so maps compare and hash it by identity; its own tag lets
//! them do so without reading the string (whose header is often a cache
//! miss: see docs/performance.md). [`Value::object`] picks the tag from the
//! object, so an object has one value, and `==` of values stays identity.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use maat_gc::{GcAny, Trace, Tracer};

const TAG_MASK: u64 = 0xFFFF_0000_0000_0000;
const TAGGED: u64 = 0xFFF8_0000_0000_0000;
const NIL: u64 = TAGGED;
const BOOL: u64 = 0xFFF9_0000_0000_0000;
const OBJECT: u64 = 0xFFFA_0000_0000_0000;
const INTERNED_STR: u64 = 0xFFFB_0000_0000_0000;
/// The tag bits both object tags share.
const OBJECT_MASK: u64 = 0xFFFE_0000_0000_0000;
const PAYLOAD: u64 = !TAG_MASK;
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// A Maat value, valid for one mutation (`'gc`). Copy, 8 bytes.
/// `==` compares representations (identity for objects, bits for numbers),
/// not Maat's equality, which the interpreter defines.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value<'gc> {
    bits: u64,
    _gc: PhantomData<GcAny<'gc>>,
}

/// What a value is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unpacked<'gc> {
    /// `nil`
    Nil,
    /// `true` or `false`
    Bool(bool),
    /// A number.
    Num(f64),
    /// An object.
    Object(GcAny<'gc>),
}

impl<'gc> Value<'gc> {
    const fn from_bits(bits: u64) -> Self {
        Value { bits, _gc: PhantomData }
    }

    /// `nil`, for any brand.
    pub const fn nil() -> Self {
        Value::from_bits(NIL)
    }

    /// A boolean.
    pub const fn bool(b: bool) -> Self {
        Value::from_bits(BOOL | b as u64)
    }

    /// A number (NaNs become the canonical NaN).
    pub fn num(n: f64) -> Self {
        Value::from_bits(if n.is_nan() { CANONICAL_NAN } else { n.to_bits() })
    }

    /// Stores the number `n` in `slot`, as `*slot = Value::num(n)` does, but
    /// with the NaN check after the store, as a branch the processor
    /// predicts: the check then stays off the dependency chain of a run of
    /// arithmetic (a conditional move on the result added its latency to
    /// every operation). Until the check, `slot` may hold a NaN's raw bits,
    /// which nothing reads in between.
    #[inline(always)]
    pub fn store_num(slot: &mut Value<'gc>, n: f64) {
        slot.bits = n.to_bits();
        if n.is_nan() {
            slot.bits = CANONICAL_NAN;
        }
    }

    /// An object (with the interned-string tag if it is an interned
    /// string).
    ///
    /// # Panics
    ///
    /// If the object's address does not fit in 48 bits (it does on every
    /// supported platform: x86-64 and AArch64 with 48-bit virtual addresses).
    pub fn object(gc: GcAny<'gc>) -> Self {
        let addr = gc.as_raw().as_ptr() as u64;
        assert!(addr & TAG_MASK == 0, "object address {addr:#x} does not fit in a NaN-boxed value");
        let tag = if crate::object::string::is_interned(gc) { INTERNED_STR } else { OBJECT };
        Value::from_bits(tag | addr)
    }

    /// What the value is.
    #[inline]
    pub fn unpack(self) -> Unpacked<'gc> {
        if self.bits & TAGGED != TAGGED {
            return Unpacked::Num(f64::from_bits(self.bits));
        }
        match self.bits & TAG_MASK {
            NIL => Unpacked::Nil,
            BOOL => Unpacked::Bool(self.bits & 1 == 1),
            // SAFETY: as in `as_object`.
            _ => Unpacked::Object(unsafe { self.object_unchecked() }),
        }
    }

    /// The number held at `v`, if it is one, loaded straight into a
    /// floating-point register: the tag check reads the bits, and the number
    /// is read again as an `f64` (a load the compiler must keep), so that
    /// arithmetic on it does not wait for the bits to cross from an integer
    /// register (a round trip that sat on the dependency chain of every
    /// operation of a run of arithmetic).
    #[inline(always)]
    pub fn num_at(v: &Value<'gc>) -> Option<f64> {
        if v.bits & TAGGED == TAGGED {
            return None;
        }
        // SAFETY: `&v.bits` is a valid, aligned reference to 8 initialized
        // bytes, which any bit pattern makes a valid `f64`.
        Some(unsafe { core::ptr::read_volatile(core::ptr::from_ref(&v.bits).cast::<f64>()) })
    }

    /// The number, if it is one.
    #[inline]
    pub fn as_num(self) -> Option<f64> {
        match self.unpack() {
            Unpacked::Num(n) => Some(n),
            _ => None,
        }
    }

    /// The object, if it is one (one test of the tag, not a whole unpack).
    #[inline]
    pub fn as_object(self) -> Option<GcAny<'gc>> {
        if !Self::bits_hold_object(self.bits) {
            return None;
        }
        // SAFETY: the tag says the bits hold an object.
        Some(unsafe { self.object_unchecked() })
    }

    /// Whether the value is an interned string (from its tag alone: the
    /// string is not read).
    #[inline(always)]
    pub fn is_interned_str(self) -> bool {
        self.bits & TAG_MASK == INTERNED_STR
    }

    /// The object of a value whose tag says it holds one.
    ///
    /// # Safety
    ///
    /// The value's tag is an object tag.
    #[inline(always)]
    unsafe fn object_unchecked(self) -> GcAny<'gc> {
        debug_assert!(Self::bits_hold_object(self.bits));
        // SAFETY: object bits are only made by `Value::object`, from a live
        // handle of this mutation (the brand ties the value to it), whose
        // address is never null (or by `from_raw_bits`, whose caller vouches
        // for such bits); so the payload is a non-null `as_raw` address.
        unsafe { GcAny::from_raw(NonNull::new_unchecked((self.bits & PAYLOAD) as *mut ())) }
    }

    /// Whether the value is `nil`.
    pub fn is_nil(self) -> bool {
        self.bits == NIL
    }

    /// Truthiness: everything but `nil` and `false` is true.
    pub fn truthy(self) -> bool {
        self.bits != NIL && self.bits != BOOL
    }

    /// The raw 8 bytes (for an atomic slot).
    pub fn to_bits(self) -> u64 {
        self.bits
    }

    /// Whether bits from [`Value::to_bits`] hold an object (a test of the
    /// tag: the object need not be alive).
    #[inline(always)]
    pub fn bits_hold_object(bits: u64) -> bool {
        bits & OBJECT_MASK == OBJECT
    }

    /// A value back from [`Value::to_bits`].
    ///
    /// # Safety
    ///
    /// The bits came from `to_bits` of a value whose object (if any) is still
    /// alive in this mutation (it was kept in a traced slot).
    pub unsafe fn from_raw_bits(bits: u64) -> Self {
        Value::from_bits(bits)
    }
}

/// Formats a number as Maat prints it: integral values without a fraction.
pub fn format_num(n: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if n.is_nan() {
        f.write_str("NaN")
    } else if n.is_infinite() {
        f.write_str(if n > 0.0 { "Inf" } else { "-Inf" })
    } else if n == n.trunc() && n.abs() < 9.007_199_254_740_992e15 {
        write!(f, "{}", n as i64)
    } else {
        write!(f, "{n}")
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unpack() {
            Unpacked::Nil => f.write_str("nil"),
            Unpacked::Bool(b) => write!(f, "{b}"),
            Unpacked::Num(n) => format_num(n, f),
            Unpacked::Object(o) => write!(f, "object(kind {}, {:p})", o.kind(), o.as_raw()),
        }
    }
}

// SAFETY: an object value's only reference is its object.
unsafe impl Trace for Value<'_> {
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        if let Unpacked::Object(o) = self.unpack() {
            o.trace(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maat_gc::{Config, Gc, Heap, RefLock, Root};

    #[test]
    fn values_are_eight_bytes() {
        assert_eq!(size_of::<Value<'_>>(), 8);
    }

    #[test]
    fn numbers_round_trip_exactly() {
        for n in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            9007199254740993.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let v = Value::num(n);
            assert_eq!(v.as_num().map(f64::to_bits), Some(n.to_bits()), "{n}");
        }
        assert!(Value::num(f64::NAN).as_num().unwrap().is_nan());
        assert!(Value::num(-f64::NAN).as_num().unwrap().is_nan(), "negative NaNs are numbers too");
        // A NaN whose bits look like a tag is stored as the canonical NaN.
        assert_eq!(Value::num(f64::from_bits(0xFFF8_0000_0000_0001)).to_bits(), CANONICAL_NAN);
        assert_eq!(Value::num(f64::from_bits(0xFFFA_0000_0000_0001)).to_bits(), CANONICAL_NAN);
    }

    #[test]
    fn nil_and_booleans() {
        assert!(Value::nil().is_nil() && !Value::nil().truthy());
        assert_eq!(Value::bool(true).unpack(), Unpacked::Bool(true));
        assert_eq!(Value::bool(false).unpack(), Unpacked::Bool(false));
        assert!(!Value::bool(false).truthy() && Value::bool(true).truthy());
        assert!(Value::num(0.0).truthy(), "0 is true, as in Lua");
    }

    #[test]
    fn numbers_print_like_maat() {
        let show = |n: f64| format!("{:?}", Value::num(n));
        assert_eq!(show(3.0), "3");
        assert_eq!(show(-0.0), "0");
        assert_eq!(show(0.5), "0.5");
        assert_eq!(show(1e21), "1000000000000000000000");
        assert_eq!(show(f64::NAN), "NaN");
        assert_eq!(show(f64::NEG_INFINITY), "-Inf");
    }

    struct Values;
    impl Root for Values {
        type Of<'gc> = Gc<'gc, RefLock<Vec<Value<'gc>>>>;
    }

    #[test]
    fn object_values_keep_objects_alive_and_unpack() {
        let mut heap = Heap::<Values>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
        heap.mutate(|mc, list| {
            let text = mc.alloc_kind(String::from("hello"), 7);
            let w = Gc::write(mc, *list);
            w.borrow_mut().extend([Value::object(text.into()), Value::num(2.0), Value::nil()]);
            mc.alloc_kind(String::from("garbage"), 7);
        });
        heap.collect();
        heap.verify().unwrap();
        assert_eq!(heap.stats().objects_freed, 1);
        heap.mutate(|_, list| {
            let items = list.borrow();
            let o = items[0].as_object().expect("an object");
            assert_eq!(o.kind(), 7);
            // SAFETY: kind 7 is a String in this test.
            assert_eq!(&*unsafe { o.downcast::<String>() }, "hello");
            assert_eq!(items[1].as_num(), Some(2.0));
            assert!(items[2].is_nil());
            // SAFETY: the bits come from a live value of this mutation.
            assert_eq!(unsafe { Value::from_raw_bits(items[0].to_bits()) }, items[0]);
        });
    }
}
