//! The three-way merge of `vault merge` (git's merge driver): per secret
//! name over decoded entries ([`merge_entries`]), per slot id over slots
//! ([`merge_slots`]), which side's master key the result keeps
//! ([`Rotation`]), and [`merge_vaults`], which puts them together over three
//! opened vaults and seals the result. No I/O, no printing: the caller
//! opens the files and writes the bytes.
//!
//! The rules (README, "Git"): a change on one side is taken, the same
//! change on both is fine; different changes to one name are a conflict:
//! the entry keeps OURS's value (or the surviving value, when one side
//! deleted it) and carries the other side's in its conflict mark. Without a
//! base every name that differs is a conflict. With one master key on both
//! sides slots merge by id; if one side rotated the master key since the
//! base, the result keeps that side's key and slots, the other side's slot
//! additions and changes are refused (reported, never re-wrapped), and the
//! names it created or changed since the base are marked rotate pending.
//! Both sides rotated: no merge.

use std::cmp::Ordering;

use zeroize::Zeroizing;

use crate::body_edit::Secrets;
use crate::error::{Error, Result};
use crate::format::v2::{Label, SlotV2};
use crate::format::{self, Conflict, EntryRef, Marks, SlotId};
use crate::keyblock;
use crate::Vault;

/// Which side rotated the master key since the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Both sides have the same master key.
    Neither,
    /// OURS has a new master key; THEIRS has the base's.
    Ours,
    /// THEIRS has a new master key; OURS has the base's.
    Theirs,
    /// Both have a new one (or there is no base to tell which): no merge.
    Both,
}

impl Rotation {
    /// From the master-key commitments of the three sides (the base's
    /// `None` when it could not be opened: then two different keys cannot
    /// be told apart and are [`Rotation::Both`]).
    pub fn of(base: Option<&[u8; 32]>, ours: &[u8; 32], theirs: &[u8; 32]) -> Rotation {
        match base {
            _ if ours == theirs => Rotation::Neither,
            Some(b) if b == ours => Rotation::Theirs,
            Some(b) if b == theirs => Rotation::Ours,
            _ => Rotation::Both,
        }
    }
}

/// Secrets merged by name.
#[derive(Debug, Default)]
pub struct MergedEntries<'a> {
    /// The result, sorted by name.
    pub entries: Vec<EntryRef<'a>>,
    /// Names with different changes on both sides (now marked conflict).
    pub conflicts: Vec<&'a str>,
    /// Names this merge marked rotate pending (changed on the side that
    /// did not rotate, where the removed member could read them).
    pub rotate_pending: Vec<&'a str>,
}

fn same(a: Option<&EntryRef<'_>>, b: Option<&EntryRef<'_>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.expose_value() == b.expose_value(),
        _ => false,
    }
}

/// The next name of three sorted runs, and each run's entry of that name.
struct Union<'s, 'a> {
    runs: [&'s [EntryRef<'a>]; 3],
}

impl<'s, 'a> Iterator for Union<'s, 'a> {
    type Item = [Option<EntryRef<'a>>; 3];

    fn next(&mut self) -> Option<Self::Item> {
        let name = self
            .runs
            .iter()
            .filter_map(|r| r.first().map(|e| e.name))
            .min()?;
        let mut out = [None; 3];
        for (i, r) in self.runs.iter_mut().enumerate() {
            if let Some((e, rest)) = r.split_first() {
                if e.name.cmp(name) == Ordering::Equal {
                    out[i] = Some(*e);
                    *r = rest;
                }
            }
        }
        Some(out)
    }
}

/// Merges the secrets of `ours` and `theirs` (each sorted by name, as a
/// vault lists them) against `base` (`None`: no base could be read, so
/// every name that differs is a conflict). `rotation` says which side, if
/// one, rotated the master key: the other side's creations and changes
/// since the base are marked rotate pending. O(n) in the number of names.
pub fn merge_entries<'a>(
    base: Option<&[EntryRef<'a>]>,
    ours: &[EntryRef<'a>],
    theirs: &[EntryRef<'a>],
    rotation: Rotation,
) -> MergedEntries<'a> {
    let mut m = MergedEntries {
        entries: Vec::with_capacity(ours.len().max(theirs.len())),
        ..MergedEntries::default()
    };
    let union = Union {
        runs: [base.unwrap_or(&[]), ours, theirs],
    };
    for [b, o, t] in union {
        let (b, o, t) = (b.as_ref(), o.as_ref(), t.as_ref());
        let known_base = base.is_some();
        let (taken, conflict) = if same(o, t) {
            // The same on both sides: OURS, rotate pending if either says so.
            let taken = o.map(|e| {
                let p = e.marks.rotate_pending || t.is_some_and(|t| t.marks.rotate_pending);
                with_pending(*e, p)
            });
            (taken, false)
        } else if known_base && same(o, b) {
            (t.copied(), false)
        } else if known_base && same(t, b) {
            (o.copied(), false)
        } else {
            let taken = match (o, t) {
                (Some(o), Some(t)) => with_conflict(*o, Conflict::Other(t.expose_value())),
                (Some(kept), None) | (None, Some(kept)) => {
                    with_conflict(*kept, Conflict::OtherDeleted)
                }
                (None, None) => unreachable!("two absent sides are the same"),
            };
            (Some(taken), true)
        };
        let Some(mut e) = taken else {
            continue;
        };
        if conflict {
            m.conflicts.push(e.name);
        }
        // The side that kept the old master key created or changed it:
        // whoever was removed on the other side could read it there.
        let unrotated = match rotation {
            Rotation::Ours => t,
            Rotation::Theirs => o,
            Rotation::Neither | Rotation::Both => None,
        };
        if unrotated.is_some() && !same(unrotated, b) && !e.marks.rotate_pending {
            e = with_pending(e, true);
            m.rotate_pending.push(e.name);
        }
        m.entries.push(e);
    }
    m
}

/// The exposed-value digests of every side, sorted, without repeats, at
/// most [`format::MAX_EXPOSED`] (beyond it the smallest go, as one side's
/// own list drops them).
fn exposed_union<'v>(
    sides: impl Iterator<Item = &'v [[u8; format::EXPOSED_DIGEST_LEN]]>,
) -> Vec<[u8; format::EXPOSED_DIGEST_LEN]> {
    let mut all: Vec<_> = sides.flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    let over = all.len().saturating_sub(format::MAX_EXPOSED);
    all.drain(..over);
    all
}

fn with_pending(e: EntryRef<'_>, rotate_pending: bool) -> EntryRef<'_> {
    let marks = Marks {
        rotate_pending,
        ..e.marks
    };
    e.with_marks(marks)
}

fn with_conflict<'a>(e: EntryRef<'a>, c: Conflict<'a>) -> EntryRef<'a> {
    let marks = Marks {
        conflict: Some(c),
        ..e.marks
    };
    e.with_marks(marks)
}

/// A slot change that the merge could not take as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotConflict {
    /// Both sides changed this slot differently: OURS's kept.
    BothChanged(SlotId),
    /// One side removed it, the other changed it: removed.
    RemovedAndChanged(SlotId),
    /// This slot (THEIRS's, or added later) has a label another slot of the
    /// result has: the slot is kept without it.
    LabelTaken(SlotId, Label),
    /// Added or changed on the side that kept the old master key: not in
    /// the result (it would let a removed member back in).
    AcrossRotation(SlotId),
}

impl std::fmt::Display for SlotConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotConflict::BothChanged(id) => write!(
                f,
                "slot {} was changed differently on both sides; ours is kept",
                id.to_hex()
            ),
            SlotConflict::RemovedAndChanged(id) => write!(
                f,
                "slot {} was removed on one side and changed on the other; it is removed",
                id.to_hex()
            ),
            SlotConflict::LabelTaken(id, l) => write!(
                f,
                "slot {} lost its label {:?}: another slot has it (`vault key label {} NEW`)",
                id.to_hex(),
                l.as_str(),
                id.to_hex()
            ),
            SlotConflict::AcrossRotation(id) => write!(
                f,
                "slot {} was added or changed on the side that still has the old master key; it is not carried over (add it again if it belongs)",
                id.to_hex()
            ),
        }
    }
}

/// Slots merged by id.
#[derive(Debug, Default)]
pub struct MergedSlots {
    /// The result: OURS's order, then THEIRS's new slots.
    pub slots: Vec<SlotV2>,
    /// What was not taken as it was.
    pub conflicts: Vec<SlotConflict>,
}

/// Merges the slots of two sides that share one master key, three-way by
/// slot id against `base` (`None`: unknown, so the union, OURS's version
/// of a slot both changed). Then a label held by two slots stays with the
/// first (OURS's) and is taken off the other.
pub fn merge_slots(base: Option<&[SlotV2]>, ours: &[SlotV2], theirs: &[SlotV2]) -> MergedSlots {
    let find = |run: &[SlotV2], id: SlotId| run.iter().find(|s| s.id == id).cloned();
    let mut ids: Vec<SlotId> = ours.iter().map(|s| s.id).collect();
    ids.extend(
        theirs
            .iter()
            .map(|s| s.id)
            .filter(|id| find(ours, *id).is_none()),
    );
    // A slot only the base has was removed on both sides: nothing to do.
    let mut out = MergedSlots::default();
    for id in ids {
        let (o, t) = (find(ours, id), find(theirs, id));
        let b = base.map(|b| find(b, id));
        let taken = match b {
            _ if o == t => o,
            None => match (o, t) {
                (Some(o), Some(_)) => {
                    out.conflicts.push(SlotConflict::BothChanged(id));
                    Some(o)
                }
                (o, t) => o.or(t),
            },
            Some(b) if o == b => t,
            Some(b) if t == b => o,
            Some(_) => match (o, t) {
                (Some(o), Some(_)) => {
                    out.conflicts.push(SlotConflict::BothChanged(id));
                    Some(o)
                }
                _ => {
                    out.conflicts.push(SlotConflict::RemovedAndChanged(id));
                    None
                }
            },
        };
        out.slots.extend(taken);
    }
    let mut seen: Vec<Label> = Vec::new();
    for s in &mut out.slots {
        if let Some(l) = s.label.take() {
            if seen.contains(&l) {
                out.conflicts.push(SlotConflict::LabelTaken(s.id, l));
            } else {
                seen.push(l.clone());
                s.label = Some(l);
            }
        }
    }
    out
}

/// The slots of the side that rotated (`kept`), and as conflicts the
/// slots the other side (`other`) added or changed since `base`.
pub fn slots_across_rotation(base: &[SlotV2], kept: &[SlotV2], other: &[SlotV2]) -> MergedSlots {
    let conflicts = other
        .iter()
        .filter(|s| !base.contains(s))
        .map(|s| SlotConflict::AcrossRotation(s.id))
        .collect();
    MergedSlots {
        slots: kept.to_vec(),
        conflicts,
    }
}

/// What [`merge_vaults`] made.
pub struct Outcome {
    /// The sealed result, to replace OURS.
    pub bytes: Vec<u8>,
    /// Its generation (above both sides').
    pub generation: u64,
    /// Which side rotated.
    pub rotation: Rotation,
    /// Secret names with different changes on both sides (marked conflict).
    pub conflicts: Vec<String>,
    /// Slot changes not taken as they were.
    pub slot_conflicts: Vec<SlotConflict>,
    /// Names this merge marked rotate pending.
    pub rotate_pending: Vec<String>,
}

impl Outcome {
    /// Whether anything needs the user (git then stops: exit 1).
    pub fn has_conflicts(&self) -> bool {
        !self.conflicts.is_empty() || !self.slot_conflicts.is_empty()
    }
}

/// The key a vault was opened to, as its master-key commitment: worked
/// out from the master key when a slot opened it (so a version-1 file and
/// its version-2 successor compare equal), else the header's (a cached
/// body key: version 2 only).
fn key_id(v: &Vault) -> [u8; 32] {
    match v.master_key() {
        Some(mk) => keyblock::master_commitment(mk),
        None => v.header().keys.master_commitment,
    }
}

/// Merges three opened vaults into sealed bytes for OURS's place. `base`
/// is `None` when it could not be opened, is empty, or is another vault.
/// Errors: OURS and THEIRS are different vaults; both rotated the master
/// key (or one did and there is no base to tell which); the result needs a
/// new key block but the side it keeps was opened by the cached body key.
pub fn merge_vaults(base: Option<&Vault>, ours: Vault, theirs: Vault) -> Result<Outcome> {
    if ours.header().vault_id != theirs.header().vault_id {
        return Err(Error::CannotMerge(
            "the two sides are different vaults (different vault ids)".into(),
        ));
    }
    let base = base.filter(|b| b.header().vault_id == ours.header().vault_id);
    let rotation = Rotation::of(base.map(key_id).as_ref(), &key_id(&ours), &key_id(&theirs));
    if rotation == Rotation::Both {
        return Err(Error::CannotMerge(match base {
            Some(_) => "both sides rotated the master key since their common version (a member removed on each branch); take one side (`git checkout --ours` or `--theirs`), carry the other side's changes over by hand, then remove again whoever the other branch removed".into(),
            None => "the two sides have different master keys and there is no readable common version to tell which side rotated".into(),
        }));
    }
    let generation = ours.header().generation.max(theirs.header().generation);
    let (mut kept, plain, slots, report) = {
        fn list(v: &Vault) -> Vec<EntryRef<'_>> {
            v.entries().collect()
        }
        let (b, o, t) = (base.map(list), list(&ours), list(&theirs));
        let mut merged = merge_entries(b.as_deref(), &o, &t, rotation);
        // Every side's exposed values stay exposed, and so does every
        // rotate-pending value a side holds (the merge may not keep it); a
        // name the merge sets to one of them is rotate pending again.
        let sides = || base.into_iter().chain([&ours, &theirs]);
        let held: Vec<[u8; format::EXPOSED_DIGEST_LEN]> = sides()
            .flat_map(|v| {
                let vid = v.header().vault_id;
                v.entries()
                    .filter(|e| e.marks.rotate_pending)
                    .map(move |e| keyblock::exposed_digest(&vid, e.name, e.expose_value()))
            })
            .collect();
        let exposed = exposed_union(sides().map(|v| v.exposed()).chain([held.as_slice()]));
        if !exposed.is_empty() {
            let vid = ours.header().vault_id;
            for e in &mut merged.entries {
                let d = keyblock::exposed_digest(&vid, e.name, e.expose_value());
                if !e.marks.rotate_pending && exposed.binary_search(&d).is_ok() {
                    *e = with_pending(*e, true);
                    merged.rotate_pending.push(e.name);
                }
            }
            merged.rotate_pending.sort_unstable();
        }
        let kept_side = if rotation == Rotation::Theirs {
            &theirs
        } else {
            &ours
        };
        let slots = match rotation {
            Rotation::Ours => slots_across_rotation(
                &base
                    .expect("a rotation is seen against a base")
                    .header()
                    .keys
                    .slots,
                &ours.header().keys.slots,
                &theirs.header().keys.slots,
            ),
            Rotation::Theirs => slots_across_rotation(
                &base
                    .expect("a rotation is seen against a base")
                    .header()
                    .keys
                    .slots,
                &theirs.header().keys.slots,
                &ours.header().keys.slots,
            ),
            _ => merge_slots(
                base.map(|b| b.header().keys.slots.as_slice()),
                &ours.header().keys.slots,
                &theirs.header().keys.slots,
            ),
        };
        let mut plain = Zeroizing::new(Vec::with_capacity(format::encoded_len_v2(
            exposed.len(),
            merged.entries.iter().copied(),
        )));
        crate::secret::lock_memory(&plain);
        format::encode_v2_into(
            &mut plain,
            kept_side.fingerprint_key(),
            &exposed,
            merged.entries.len(),
            merged.entries.iter().copied(),
        );
        let report = (
            merged
                .conflicts
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            merged
                .rotate_pending
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
        );
        let kept = if rotation == Rotation::Theirs {
            theirs
        } else {
            ours
        };
        (kept, plain, slots, report)
    };
    let secrets = Secrets::parse_v2(plain, 0).map_err(|_| Error::Corrupt {
        path: kept.path().to_path_buf(),
        detail: "the merged body does not read back".into(),
    })?;
    kept.become_merge_result(slots.slots, secrets, generation)?;
    let bytes = kept.seal()?;
    Ok(Outcome {
        bytes,
        generation: kept.header().generation,
        rotation,
        conflicts: report.0,
        slot_conflicts: slots.conflicts,
        rotate_pending: report.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Side = BTreeMap<String, Vec<u8>>;

    fn refs(s: &Side) -> Vec<EntryRef<'_>> {
        s.iter().map(|(n, v)| EntryRef::new(n, v, 1, 2)).collect()
    }

    fn side(pairs: &[(&str, &str)]) -> Side {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn values(m: &MergedEntries<'_>) -> Vec<(String, String)> {
        m.entries
            .iter()
            .map(|e| {
                (
                    e.name.to_string(),
                    String::from_utf8(e.expose_value().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn one_sided_changes_are_taken_and_conflicts_keep_ours_with_theirs_in_the_mark() {
        let b = side(&[("A", "1"), ("B", "1"), ("C", "1"), ("D", "1"), ("E", "1")]);
        let o = side(&[
            ("A", "2"),
            ("B", "1"),
            ("C", "ours"),
            ("E", "1"),
            ("F", "new"),
        ]);
        let t = side(&[
            ("A", "1"),
            ("B", "3"),
            ("C", "theirs"),
            ("D", "1"),
            ("E", "9"),
            ("F", "new"),
        ]);
        let (rb, ro, rt) = (refs(&b), refs(&o), refs(&t));
        let m = merge_entries(Some(&rb), &ro, &rt, Rotation::Neither);
        assert_eq!(
            values(&m),
            [
                ("A", "2"),
                ("B", "3"),
                ("C", "ours"),
                ("E", "9"),
                ("F", "new")
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert_eq!(m.conflicts, ["C"]);
        let c = m.entries.iter().find(|e| e.name == "C").unwrap();
        assert!(c.marks.conflict == Some(Conflict::Other(b"theirs")));
        assert!(m.rotate_pending.is_empty());
    }

    #[test]
    fn delete_against_change_keeps_the_changed_value_marked_other_deleted() {
        let b = side(&[("A", "1"), ("B", "1")]);
        let o = side(&[("B", "2")]);
        let t = side(&[("A", "2")]);
        let (rb, ro, rt) = (refs(&b), refs(&o), refs(&t));
        let m = merge_entries(Some(&rb), &ro, &rt, Rotation::Neither);
        assert_eq!(m.conflicts, ["A", "B"]);
        for e in &m.entries {
            assert_eq!(e.expose_value(), b"2");
            assert!(e.marks.conflict == Some(Conflict::OtherDeleted));
        }
    }

    #[test]
    fn without_a_base_every_difference_is_a_conflict() {
        let o = side(&[("A", "1"), ("B", "1"), ("C", "x")]);
        let t = side(&[("A", "1"), ("C", "y"), ("D", "1")]);
        let (ro, rt) = (refs(&o), refs(&t));
        let m = merge_entries(None, &ro, &rt, Rotation::Neither);
        assert_eq!(m.conflicts, ["B", "C", "D"]);
        assert_eq!(m.entries.len(), 4);
    }

    #[test]
    fn across_a_rotation_the_other_sides_changes_are_marked_rotate_pending() {
        let b = side(&[("A", "1"), ("B", "1"), ("C", "1")]);
        let o = side(&[("A", "1"), ("B", "1"), ("C", "1"), ("R", "rotated side")]);
        let t = side(&[("A", "2"), ("B", "1"), ("N", "new")]);
        let (rb, ro, rt) = (refs(&b), refs(&o), refs(&t));
        let m = merge_entries(Some(&rb), &ro, &rt, Rotation::Ours);
        assert_eq!(m.rotate_pending, ["A", "N"]);
        assert_eq!(
            values(&m),
            [("A", "2"), ("B", "1"), ("N", "new"), ("R", "rotated side")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn rotation_is_read_from_the_commitments() {
        let (b, x, y) = ([0; 32], [1; 32], [2; 32]);
        assert_eq!(Rotation::of(Some(&b), &b, &b), Rotation::Neither);
        assert_eq!(Rotation::of(Some(&b), &x, &b), Rotation::Ours);
        assert_eq!(Rotation::of(Some(&b), &b, &x), Rotation::Theirs);
        assert_eq!(Rotation::of(Some(&b), &x, &y), Rotation::Both);
        assert_eq!(Rotation::of(None, &x, &x), Rotation::Neither);
        assert_eq!(Rotation::of(None, &x, &y), Rotation::Both);
    }

    fn slot(id: u8, label: Option<&str>, age: u8) -> SlotV2 {
        SlotV2 {
            id: SlotId([id; 4]),
            label: label.map(|l| Label::parse(l).unwrap()),
            kind: crate::format::v2::SlotKindV2::Recipient(crate::format::v2::AgeWrap {
                recipient: format!("age1test{id}"),
                age: vec![age],
            }),
        }
    }

    #[test]
    fn slots_merge_by_id_and_a_label_stays_with_the_first_slot() {
        let base = [slot(1, None, 0), slot(2, None, 0), slot(3, None, 0)];
        // Ours: slot 2 changed, slot 4 added as "ci". Theirs: slot 3
        // removed, slot 1 changed, slot 5 added also as "ci".
        let ours = [
            slot(1, None, 0),
            slot(2, None, 9),
            slot(3, None, 0),
            slot(4, Some("ci"), 0),
        ];
        let theirs = [slot(1, None, 7), slot(2, None, 0), slot(5, Some("ci"), 0)];
        let m = merge_slots(Some(&base), &ours, &theirs);
        let got: Vec<(u8, Option<&str>, u8)> = m
            .slots
            .iter()
            .map(|s| {
                (
                    s.id.0[0],
                    s.label.as_ref().map(|l| l.as_str()),
                    s.kind.wrap().unwrap().age[0],
                )
            })
            .collect();
        assert_eq!(
            got,
            [(1, None, 7), (2, None, 9), (4, Some("ci"), 0), (5, None, 0)]
        );
        assert_eq!(
            m.conflicts,
            [SlotConflict::LabelTaken(
                SlotId([5; 4]),
                Label::parse("ci").unwrap()
            )]
        );
        // Removed on one side, changed on the other: removed, reported.
        let m = merge_slots(
            Some(&base),
            &[slot(1, None, 0)],
            &[slot(1, None, 0), slot(2, None, 5)],
        );
        assert_eq!(m.slots.len(), 1);
        assert_eq!(
            m.conflicts,
            [SlotConflict::RemovedAndChanged(SlotId([2; 4]))]
        );
        // Across a rotation: the rotated side's slots; the other side's
        // additions and changes refused.
        let m = slots_across_rotation(
            &base,
            &[slot(1, None, 3)],
            &[slot(1, None, 0), slot(2, None, 1), slot(6, None, 0)],
        );
        assert_eq!(m.slots, [slot(1, None, 3)]);
        assert_eq!(
            m.conflicts,
            [
                SlotConflict::AcrossRotation(SlotId([2; 4])),
                SlotConflict::AcrossRotation(SlotId([6; 4]))
            ]
        );
    }

    mod vaults {
        use super::super::*;
        use crate::format::KdfParams;
        use crate::secret::SecretBytes;
        use crate::vault::{Credential, LockedVault, NewSlot};
        use std::path::Path;

        fn pass(s: &str) -> SecretBytes {
            SecretBytes::copy_from(s.as_bytes())
        }

        /// The vault sealed and opened again with passphrase "pw".
        fn reopened(v: &mut Vault) -> Vault {
            reopen(v.seal().unwrap())
        }

        fn reopen(bytes: Vec<u8>) -> Vault {
            LockedVault::parse(Path::new("t"), bytes)
                .unwrap()
                .unlock(&Credential::Passphrase(pass("pw")))
                .unwrap()
        }

        fn set(v: &mut Vault, n: &str, val: &str) {
            v.set(n, SecretBytes::copy_from(val.as_bytes())).unwrap();
        }

        fn base() -> Vault {
            let p = pass("pw");
            let mut v = Vault::create(
                Path::new("t"),
                &[NewSlot::Passphrase(&p, KdfParams::CHEAPEST)],
            )
            .unwrap();
            set(&mut v, "A", "1");
            reopened(&mut v)
        }

        #[test]
        fn same_key_slot_added_on_theirs_is_carried_and_generation_rises() {
            let mut b = base();
            let bytes = b.seal().unwrap();
            let (mut o, mut t) = (reopen(bytes.clone()), reopen(bytes.clone()));
            let b = reopen(bytes);
            set(&mut o, "O", "o");
            o.set_at("A", SecretBytes::copy_from(b"o"), 5).unwrap();
            let o = reopened(&mut reopened(&mut o));
            let other = pass("other");
            t.add_slot(&NewSlot::Passphrase(&other, KdfParams::CHEAPEST))
                .unwrap();
            set(&mut t, "T", "t");
            let t = reopened(&mut t);
            let (go, gt) = (o.header().generation, t.header().generation);
            let out = merge_vaults(Some(&b), o, t).unwrap();
            assert!(!out.has_conflicts() && out.rotation == Rotation::Neither);
            assert!(out.generation > go.max(gt));
            let r = reopen(out.bytes.clone());
            assert_eq!(r.header().keys.slots.len(), 2);
            let names: Vec<_> = r
                .entries()
                .map(|e| (e.name.to_string(), e.expose_value().to_vec()))
                .collect();
            assert_eq!(
                names,
                [
                    ("A".into(), b"o".to_vec()),
                    ("O".into(), b"o".to_vec()),
                    ("T".into(), b"t".to_vec())
                ]
            );
            // The slot theirs added opens the result.
            LockedVault::parse(Path::new("t"), out.bytes)
                .unwrap()
                .unlock(&Credential::Passphrase(other))
                .unwrap();
        }

        /// Values exposed on either side (rotate pending there, then
        /// deleted or changed) stay exposed in the result: set again under
        /// their names, they are marked.
        #[test]
        fn exposed_values_of_both_sides_stay_exposed_across_a_merge() {
            let mut b = base();
            set(&mut b, "B", "b");
            let x = pass("x");
            b.add_slot(&NewSlot::Passphrase(&x, KdfParams::CHEAPEST))
                .unwrap();
            let dropped = b.header().keys.slots[1].id;
            b.rekey(&[], &[dropped], crate::vault::RotatePending::Mark)
                .unwrap();
            let bytes = b.seal().unwrap();
            let (mut o, mut t) = (reopen(bytes.clone()), reopen(bytes.clone()));
            let b = reopen(bytes);
            o.delete(&["A".to_string()]).unwrap();
            let o = reopened(&mut o);
            set(&mut t, "B", "b2");
            let t = reopened(&mut t);
            assert_eq!((o.exposed().len(), t.exposed().len()), (1, 1));
            let out = merge_vaults(Some(&b), o, t).unwrap();
            assert!(!out.has_conflicts());
            let mut r = reopen(out.bytes);
            assert_eq!(r.exposed().len(), 2, "both sides' exposed values");
            assert!(r.get("A").is_none());
            assert!(!r.get("B").unwrap().marks.rotate_pending);
            set(&mut r, "A", "1");
            set(&mut r, "B", "b");
            assert!(r.get("A").unwrap().marks.rotate_pending);
            assert!(r.get("B").unwrap().marks.rotate_pending);
        }

        /// Review findings: the other side's exposed value taken by
        /// `resolve --other` is marked; a rotate-pending value a side held
        /// but the merge did not keep stays exposed in the result.
        #[test]
        fn a_value_pending_on_one_side_stays_exposed_whatever_the_merge_keeps() {
            let mut b = base();
            let x = pass("x");
            b.add_slot(&NewSlot::Passphrase(&x, KdfParams::CHEAPEST))
                .unwrap();
            let dropped = b.header().keys.slots[1].id;
            b.rekey(&[], &[dropped], crate::vault::RotatePending::Mark)
                .unwrap();
            // A=1 was exposed and changed on the base.
            set(&mut b, "A", "changed");
            let bytes = b.seal().unwrap();
            let (mut o, mut t) = (reopen(bytes.clone()), reopen(bytes.clone()));
            let b = reopen(bytes);
            // Theirs sets A back to its exposed value (marked there); ours
            // changes it too: a conflict.
            set(&mut t, "A", "1");
            assert!(t.get("A").unwrap().marks.rotate_pending);
            let t = reopened(&mut t);
            set(&mut o, "A", "ours");
            let o = reopened(&mut o);
            let out = merge_vaults(Some(&b), o, t).unwrap();
            assert_eq!(out.conflicts, ["A"]);
            let mut r = reopen(out.bytes);
            assert!(!r.get("A").unwrap().marks.rotate_pending);
            r.resolve_at("A", true, 20).unwrap();
            let a = r.get("A").unwrap();
            assert_eq!(a.expose_value(), b"1");
            assert!(a.marks.rotate_pending, "the other side's exposed value");
        }

        #[test]
        fn a_pending_value_the_merge_drops_stays_exposed() {
            let mut b = base();
            let bytes = b.seal().unwrap();
            let (mut o, mut t) = (reopen(bytes.clone()), reopen(bytes.clone()));
            let b = reopen(bytes);
            // Theirs removes a member: A=1 is pending there. Ours changes A.
            let x = pass("x");
            t.add_slot(&NewSlot::Passphrase(&x, KdfParams::CHEAPEST))
                .unwrap();
            let mut t = reopened(&mut t);
            let dropped = t.header().keys.slots[1].id;
            t.rekey(&[], &[dropped], crate::vault::RotatePending::Mark)
                .unwrap();
            let t = reopened(&mut t);
            assert!(t.get("A").unwrap().marks.rotate_pending);
            set(&mut o, "A", "ours");
            let o = reopened(&mut o);
            let out = merge_vaults(Some(&b), o, t).unwrap();
            let mut r = reopen(out.bytes);
            assert_eq!(r.get("A").unwrap().expose_value(), b"ours");
            set(&mut r, "A", "later");
            set(&mut r, "A", "1");
            assert!(r.get("A").unwrap().marks.rotate_pending);
        }

        #[test]
        fn theirs_rotated_so_the_result_keeps_their_key_and_refuses_our_new_slot() {
            let mut b = base();
            let bytes = b.seal().unwrap();
            let (mut o, mut t) = (reopen(bytes.clone()), reopen(bytes.clone()));
            let b = reopen(bytes);
            let other = pass("other");
            o.add_slot(&NewSlot::Passphrase(&other, KdfParams::CHEAPEST))
                .unwrap();
            set(&mut o, "O", "o");
            let o = reopened(&mut o);
            t.rekey(&[], &[], crate::vault::RotatePending::Skip)
                .unwrap();
            let t = reopened(&mut t);
            let theirs_key = t.header().keys.master_commitment;
            let out = merge_vaults(Some(&b), o, t).unwrap();
            assert_eq!(out.rotation, Rotation::Theirs);
            assert_eq!(out.rotate_pending, ["O"]);
            assert!(matches!(
                out.slot_conflicts[..],
                [SlotConflict::AcrossRotation(_)]
            ));
            let r = reopen(out.bytes.clone());
            assert_eq!(r.header().keys.master_commitment, theirs_key);
            assert!(r.get("O").unwrap().marks.rotate_pending);
            assert!(LockedVault::parse(Path::new("t"), out.bytes)
                .unwrap()
                .unlock(&Credential::Passphrase(other))
                .is_err());
        }
    }

    fn arb_side() -> impl Strategy<Value = Side> {
        proptest::collection::btree_map("[A-F]", proptest::collection::vec(0u8..3, 0..2), 0..6)
    }

    proptest! {
        /// The three-way rules, name by name, against a model; the result
        /// is sorted, with one entry per surviving name.
        #[test]
        fn follows_the_rules_name_by_name(b in arb_side(), o in arb_side(), t in arb_side(), no_base in any::<bool>()) {
            let (rb, ro, rt) = (refs(&b), refs(&o), refs(&t));
            let m = merge_entries((!no_base).then_some(rb.as_slice()), &ro, &rt, Rotation::Neither);
            let names: Vec<&str> = m.entries.iter().map(|e| e.name).collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(&names, &sorted);
            for n in b.keys().chain(o.keys()).chain(t.keys()) {
                let (bv, ov, tv) = (if no_base { None } else { b.get(n) }, o.get(n), t.get(n));
                let got = m.entries.iter().find(|e| e.name == n);
                let conflict = m.conflicts.contains(&n.as_str());
                if ov == tv {
                    prop_assert_eq!(got.map(|e| e.expose_value()), ov.map(|v| v.as_slice()));
                    prop_assert!(!conflict);
                } else if !no_base && ov == bv {
                    prop_assert_eq!(got.map(|e| e.expose_value()), tv.map(|v| v.as_slice()));
                    prop_assert!(!conflict);
                } else if !no_base && tv == bv {
                    prop_assert_eq!(got.map(|e| e.expose_value()), ov.map(|v| v.as_slice()));
                    prop_assert!(!conflict);
                } else {
                    prop_assert!(conflict);
                    let e = got.unwrap();
                    prop_assert_eq!(e.expose_value(), ov.or(tv).unwrap().as_slice());
                    let want = match (ov, tv) {
                        (Some(_), Some(t)) => Conflict::Other(t),
                        _ => Conflict::OtherDeleted,
                    };
                    prop_assert!(e.marks.conflict == Some(want));
                }
            }
        }

        /// Merging is symmetric up to which side's value a conflict keeps:
        /// the same names survive, and the same names conflict.
        #[test]
        fn swapping_sides_keeps_names_and_conflicts(b in arb_side(), o in arb_side(), t in arb_side()) {
            let (rb, ro, rt) = (refs(&b), refs(&o), refs(&t));
            let m1 = merge_entries(Some(&rb), &ro, &rt, Rotation::Neither);
            let m2 = merge_entries(Some(&rb), &rt, &ro, Rotation::Neither);
            let n1: Vec<&str> = m1.entries.iter().map(|e| e.name).collect();
            let n2: Vec<&str> = m2.entries.iter().map(|e| e.name).collect();
            prop_assert_eq!(n1, n2);
            prop_assert_eq!(m1.conflicts, m2.conflicts);
        }
    }
}
