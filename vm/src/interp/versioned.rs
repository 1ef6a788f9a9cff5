//! Versioned roots from the interpreter's side (the protocol is
//! `object/versioned.rs`'s): `Versioned.new`, reading (`now`, `version`),
//! an update's section (`begin_update`, `commit`, which the prelude's
//! `update` wraps around its block), a draft's operations, and what enters
//! a version: values, copied in where they are mutable, frozen at commit.

use super::methods::check_arity;
use super::*;
use crate::object::pnode::Birth;
use crate::object::versioned::{Draft, Versioned};

/// The name of a versioned root's lock in deadlock reports.
const ROOT: &str = "versioned root";
/// Why a draft other maatines can reach is refused.
const SHARED_DRAFT: &str = "a draft cannot be shared with other maatines: it is its update's own";

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `Versioned.new(root)`.
    pub(super) fn new_versioned(&self, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let [root] = args else {
            return Err(format!("Versioned.new expects 1 argument(s), got {}", args.len()));
        };
        let root = self.enter(*root)?;
        Ok(Value::object(Versioned::alloc(self.cx, root).into()))
    }

    /// Methods of versioned roots and drafts that need the maatine's state
    /// (a section, a wait); `None` for the others (the prelude's `update`).
    pub(super) fn versioned_method(
        &mut self,
        st: &mut State<'gc>,
        recv: Value<'gc>,
        (m, name): (Option<Method>, &str),
        (d, base, n): (usize, usize, usize),
    ) -> Result<Option<Flow>, Raise<'gc>> {
        let arity =
            |want: usize| check_arity(want..=want, n, || format!("{}.{name}", type_name(recv))).map_err(Raise::from);
        if let Some(draft) = object_of(recv, kind::DRAFT) {
            // SAFETY: kind DRAFT objects are Drafts.
            let draft = unsafe { draft.downcast::<Draft<'gc>>() };
            let args = st.regs[base..base + n].to_vec();
            st.regs[d] = self.draft_method(draft, (m, name), &args)?;
            return Ok(Some(Flow::Next));
        }
        let db = object_of(recv, kind::VERSIONED).expect("a versioned root or a draft");
        // SAFETY: kind VERSIONED objects are Versioneds.
        let db = unsafe { db.downcast::<Versioned<'gc>>() };
        let value = match m {
            Some(Method::Now) => arity(0).map(|_| Gc::get(db).now().root)?,
            Some(Method::Version) => arity(0).map(|_| Value::num(Gc::get(db).now().number as f64))?,
            Some(Method::BeginUpdate) => {
                arity(0)?;
                return self.begin_update(st, db, d);
            }
            Some(Method::Commit) => {
                arity(1)?;
                self.commit(st, db, st.regs[base])?
            }
            Some(Method::Update) => return Ok(None),
            _ => return Err(unknown_method(recv, name).into()),
        };
        st.regs[d] = value;
        Ok(Some(Flow::Next))
    }

    /// Begins an update of `db`: waits (parked) for another maatine's
    /// update to end, then holds the section and puts a new draft in `d`.
    fn begin_update(
        &mut self,
        st: &mut State<'gc>,
        db: Gc<'gc, Versioned<'gc>>,
        d: usize,
    ) -> Result<Option<Flow>, Raise<'gc>> {
        let slot = Gc::get(db).writers();
        // Its own open section, not the lock's holder: a lock released to
        // this maatine while it waited names it as the holder before it
        // retries (the handoff).
        if st.sections.iter().any(|(s, _)| Gc::ptr_eq(*s, slot)) {
            return Err("this maatine is already updating this versioned root: updates of one root do not nest \
                        (the inner one's version would be lost when the outer one commits)"
                .to_owned()
                .into());
        }
        if Slot::try_begin(slot, self.cx, self.me) {
            self.section_begun(self.cx.stats.captured(), false);
        } else {
            let status = self
                .slot_lock(slot, ROOT, |rt, request, parker| Slot::begin(slot, rt.cx, &rt.rt.table, request, parker))?;
            if status == LockStatus::Suspended {
                return Ok(Some(self.blocked_on_variable(ROOT, slot)));
            }
        }
        st.sections.push((slot, st.frames.len()));
        st.regs[d] = Value::object(Versioned::draft(db, self.cx, self.me).into());
        Ok(Some(Flow::Next))
    }

    /// Commits `draft` as `db`'s next version and ends the update: the new
    /// version's number.
    fn commit(&mut self, st: &mut State<'gc>, db: Gc<'gc, Versioned<'gc>>, draft: Value<'gc>) -> OpResult<Value<'gc>> {
        let draft = self.current_draft(draft)?;
        if !Gc::ptr_eq(Gc::get(draft).db, db) {
            return Err("commit of a draft of another versioned root".to_owned());
        }
        let (v, slot) = (Gc::get(db), Gc::get(db).writers());
        let number = v.now().number + 1;
        let version = crate::object::versioned::Version::alloc(self.cx, number, Gc::get(draft).root());
        self.cx.mc.freeze(version);
        Versioned::publish(db, self.cx, version);
        v.close(self.cx, self.me);
        let at = st.sections.iter().rposition(|(s, _)| Gc::ptr_eq(*s, slot)).expect("the update's section is open");
        st.sections.remove(at);
        Slot::end(slot, self.cx, &self.rt.table, self.me).map_err(|e| e.to_string())?;
        Ok(Value::num(number as f64))
    }

    /// The draft `v` holds, if it is the one of the update this maatine
    /// runs now; why not otherwise.
    fn current_draft(&self, v: Value<'gc>) -> OpResult<Gc<'gc, Draft<'gc>>> {
        let draft = object_of(v, kind::DRAFT).ok_or_else(|| format!("commit needs a draft, got {}", type_name(v)))?;
        // SAFETY: kind DRAFT objects are Drafts.
        let draft = unsafe { draft.downcast::<Draft<'gc>>() };
        let db = Gc::get(Gc::get(draft).db);
        if !db.is_current(Gc::get(draft), self.me) || Slot::holder(db.writers()) != Some(self.me) {
            return Err("this draft's update is over (it committed or failed, or belongs to another maatine): \
                        a draft lives only inside its update block"
                .to_owned());
        }
        if GcAny::from(draft).sharing() != maat_sync::Sharing::Unshared {
            return Err(SHARED_DRAFT.to_owned());
        }
        Ok(draft)
    }

    /// A draft's methods: reading its root (`now`, `get`, `len`, `has`)
    /// and changing it (`set` the whole root; `put`, `delete` and `push`
    /// on a persistent map or vector root).
    fn draft_method(
        &self,
        draft: Gc<'gc, Draft<'gc>>,
        (m, name): (Option<Method>, &str),
        args: &[Value<'gc>],
    ) -> OpResult<Value<'gc>> {
        self.current_draft(Value::object(draft.into()))?;
        let arity = |range| check_arity(range, args.len(), || format!("Draft.{name}"));
        let d = Gc::get(draft);
        let root = d.root();
        // (`current_draft` checked that the draft is unshared: its slot
        // takes the store.)
        let change = |new: Value<'gc>| -> OpResult<Value<'gc>> {
            if !d.set_root(self.cx, new) {
                return Err(SHARED_DRAFT.to_owned());
            }
            Ok(Value::object(draft.into()))
        };
        match m {
            Some(Method::Now) => arity(0..=0).map(|_| root),
            Some(Method::Set) if args.len() == 1 => change(self.enter(args[0])?),
            Some(Method::Get) if args.len() == 1 => self.get_index(root, args[0]),
            Some(Method::Put | Method::Set) => {
                arity(2..=2)?;
                let (k, v) = (self.enter(args[0])?, self.enter(args[1])?);
                change(self.put_in_root(root, k, v)?)
            }
            Some(
                m @ (Method::Get
                | Method::Len
                | Method::Has
                | Method::Delete
                | Method::Push
                | Method::Pop
                | Method::Keys
                | Method::Values),
            ) => {
                let args = match m {
                    Method::Push => vec![self.enter(args[0])?],
                    _ => args.to_vec(),
                };
                let result = self.root_method(root, (m, name), &args)?;
                if matches!(m, Method::Delete | Method::Push | Method::Pop) { change(result) } else { Ok(result) }
            }
            _ => Err(unknown_method(Value::object(draft.into()), name)),
        }
    }

    /// `root` with `k` set to `v`: a persistent map's `put`, a persistent
    /// vector's `set`.
    fn put_in_root(&self, root: Value<'gc>, k: Value<'gc>, v: Value<'gc>) -> OpResult<Value<'gc>> {
        let m = match root.as_object().map(|o| o.kind()) {
            Some(kind::PMAP) => (Method::Put, "put"),
            Some(kind::PVEC) => (Method::Set, "set"),
            _ => {
                return Err(format!(
                    "a draft's root is a {}: d[k] = v needs a PMap or a PVec (d.set(root) replaces it whole)",
                    type_name(root)
                ));
            }
        };
        self.root_method(root, m, &[k, v])
    }

    /// Method `m` (called `name`) of a draft's root, as for any value; a
    /// persistent map's or vector's changes make their nodes frozen as
    /// they are made (the commit's `freeze` then stops at the new
    /// collection).
    fn root_method(&self, root: Value<'gc>, (m, name): (Method, &str), args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        self.method_as(root, (Some(m), name), args, Birth::Frozen)
    }

    /// `draft[k] = v`.
    pub(super) fn draft_set_index(&self, draft: GcAny<'gc>, k: Value<'gc>, v: Value<'gc>) -> OpResult<()> {
        // SAFETY: kind DRAFT objects are Drafts.
        let draft = unsafe { draft.downcast::<Draft<'gc>>() };
        self.draft_method(draft, (Some(Method::Put), "put"), &[k, v]).map(|_| ())
    }

    /// `draft[k]`.
    pub(super) fn draft_get_index(&self, draft: GcAny<'gc>, k: Value<'gc>) -> OpResult<Value<'gc>> {
        // SAFETY: kind DRAFT objects are Drafts.
        let draft = unsafe { draft.downcast::<Draft<'gc>>() };
        self.draft_method(draft, (Some(Method::Get), "get"), &[k])
    }

    /// `v` as it enters a version: itself if it is immutable (numbers,
    /// strings, frozen objects, versioned roots, and persistent collections
    /// of such values); a copy, frozen at commit, if it is an array, a map or
    /// an instance (so a version shares nothing mutable with its writer);
    /// an error for what is not a value (functions, channels, handles).
    pub(super) fn enter(&self, v: Value<'gc>) -> OpResult<Value<'gc>> {
        self.copy_graph(v, &|o| {
            if o.is_frozen() || matches!(o.kind(), kind::STR | kind::CLASS | kind::VERSIONED) {
                return Ok(Part::Keep);
            }
            if !matches!(o.kind(), kind::ARRAY | kind::MAP | kind::INST | kind::PVEC | kind::PMAP) {
                return Err(format!(
                    "a {} cannot enter a versioned graph: only values do (numbers, strings, arrays, maps, \
                     instances, persistent collections and versioned roots; the mutable ones are copied in)",
                    type_name(Value::object(o))
                ));
            }
            self.held(Value::object(o))?;
            Ok(Part::Copy)
        })
    }
}
