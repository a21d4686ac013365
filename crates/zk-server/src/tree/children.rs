//! A node's children: a persistent B+tree from their names to the shared child nodes.
//!
//! Owns the children map's layout and its copy-on-write, nothing about znodes: values are
//! opaque shared pointers, and [`super::node`] decides what a child is.
//!
//! Why not a general-purpose persistent map: a million-child directory is the case that
//! decides the tree's memory, and ZooKeeper fills its directories in name order
//! (sequential nodes, `f-000001`, `f-000002`, ...). A B-tree that splits a full chunk at
//! its median leaves every chunk behind the growing end half full, doubling what a child
//! costs its parent. This one splits the map's last chunk, when an append overflows it,
//! by starting a new, one-entry chunk to its right, so appended chunks stay full; inserts
//! elsewhere split at the median as usual. Chunks hold up to 32 entries and grow a few entries at a time,
//! so a chunk's allocation follows its size. A child costs its parent about one 24-byte
//! entry (a 16-byte [`Name`], inline up to 15 bytes, and a pointer).
//!
//! Copy-on-write: chunks are shared through `Arc`s. Cloning a map is O(1); a change
//! through [`Children::get_mut`], [`Children::insert`] or [`Children::remove`] copies the
//! chunks on its way down that a frozen copy still shares (at most a few: the tree is
//! three levels deep at a million children) and changes the rest in place.

use std::borrow::Borrow;
use std::cmp::Ordering;

use triomphe::{Arc, ThinArc};

/// Most entries a chunk (leaf or branch) holds. Tests use small chunks, so that a few
/// hundred entries make a tree several levels deep.
const CAP: usize = if cfg!(test) { 8 } else { 32 };
/// A chunk with fewer entries than this after a removal is merged with a neighbour when
/// the two fit in one.
const MIN: usize = CAP / 4;

/// Longest name kept inline in a [`Name`].
const INLINE: usize = 15;

/// The length of an inline name. An enum rather than a `u8` so that its unused values
/// leave room for [`Name`]'s tag: the whole name then fits in 16 bytes.
#[derive(Clone, Copy)]
#[repr(u8)]
enum InlineLen {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

impl InlineLen {
    const ALL: [InlineLen; INLINE + 1] = {
        use InlineLen::*;
        [
            L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
        ]
    };
}

/// A child's name (its last path segment): inline when at most 15 bytes, as sequential
/// and most hand-picked names are, so that it costs no allocation of its own; longer
/// names are shared on the heap.
#[derive(Clone)]
enum Name {
    Inline { bytes: [u8; INLINE], len: InlineLen },
    Heap(ThinArc<(), u8>),
}

impl Name {
    fn new(name: &str) -> Self {
        match InlineLen::ALL.get(name.len()) {
            Some(&len) => {
                let mut bytes = [0u8; INLINE];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Name::Inline { bytes, len }
            }
            None => Name::Heap(ThinArc::from_header_and_slice((), name.as_bytes())),
        }
    }

    /// The name's bytes; children are ordered by them (the same order as by `str`).
    fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { bytes, len } => &bytes[..*len as usize],
            Name::Heap(heap) => &heap.slice,
        }
    }

    /// The inline name as one integer that orders as the name does: its zero-padded bytes
    /// then its length, big-endian (a shorter name is the prefix of a longer one and
    /// ties on the padding, so the length decides). Comparing two of these is one
    /// instruction where comparing the bytes is a call to `memcmp`.
    fn key(&self) -> Option<u128> {
        match self {
            Name::Inline { bytes, len } => {
                // Two 8-byte loads (bytes 0..8 and 7..15) rather than sixteen 1-byte ones.
                let hi = u64::from_be_bytes(*bytes.first_chunk::<8>()?);
                let lo = u64::from_be_bytes(*bytes.last_chunk::<8>()?) << 8 | *len as u64;
                Some(u128::from(hi) << 64 | u128::from(lo))
            }
            Name::Heap(_) => None,
        }
    }

    /// Where this name sorts against the one looked up.
    fn cmp_probe(&self, probe: &Probe<'_>) -> Ordering {
        match (self.key(), probe.key) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.as_bytes().cmp(probe.bytes),
        }
    }

    fn as_str(&self) -> &str {
        // The bytes were copied whole from a `&str` in `new`, so they are UTF-8; the
        // fallback is never taken.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.key(), other.key()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

/// A name being looked up, with its [`Name::key`] when it is short enough to have one.
struct Probe<'a> {
    bytes: &'a [u8],
    key: Option<u128>,
}

impl<'a> Probe<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let key = (bytes.len() <= INLINE).then(|| {
            let mut key = [0u8; 16];
            key[..bytes.len()].copy_from_slice(bytes);
            key[INLINE] = bytes.len() as u8;
            u128::from_be_bytes(key)
        });
        Probe { bytes, key }
    }
}

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// One chunk of the tree. All leaves are at the same depth.
#[derive(Clone)]
enum Chunk<V> {
    /// Entries in name order.
    Leaf(Vec<(Name, V)>),
    /// `children[0]` holds the names below `keys[0]`, `children[i]` those from
    /// `keys[i - 1]` up to `keys[i]`; one key fewer than children.
    Branch {
        keys: Vec<Name>,
        children: Vec<Arc<Chunk<V>>>,
    },
}

/// What an insert into a chunk did.
enum Inserted<V> {
    /// The name was new.
    Added,
    /// The name was there; its old value.
    Replaced(V),
    /// The name was new and the chunk split: the new right sibling and the lowest name
    /// in it.
    Split(Name, Arc<Chunk<V>>),
}

impl<V: Clone> Chunk<V> {
    fn size(&self) -> usize {
        match self {
            Chunk::Leaf(entries) => entries.len(),
            Chunk::Branch { children, .. } => children.len(),
        }
    }

    fn get(&self, name: &Probe<'_>) -> Option<&V> {
        let mut chunk = self;
        loop {
            match chunk {
                Chunk::Leaf(entries) => {
                    let i = entries.binary_search_by(|(n, _)| n.cmp_probe(name)).ok()?;
                    return entries.get(i).map(|(_, v)| v);
                }
                Chunk::Branch { keys, children } => {
                    let i = keys.partition_point(|k| k.cmp_probe(name).is_le());
                    chunk = children.get(i)?;
                }
            }
        }
    }

    fn get_mut(&mut self, name: &Probe<'_>) -> Option<&mut V> {
        match self {
            Chunk::Leaf(entries) => {
                let i = entries.binary_search_by(|(n, _)| n.cmp_probe(name)).ok()?;
                entries.get_mut(i).map(|(_, v)| v)
            }
            Chunk::Branch { keys, children } => {
                let i = keys.partition_point(|k| k.cmp_probe(name).is_le());
                Arc::make_mut(children.get_mut(i)?).get_mut(name)
            }
        }
    }

    /// Inserts `name`; `rightmost`: this chunk is the last at its level (only there does
    /// an overflow at the end start a new chunk: elsewhere names arriving in descending
    /// order just past a full chunk would each start one).
    fn insert(&mut self, name: Name, value: V, rightmost: bool) -> Inserted<V> {
        match self {
            Chunk::Leaf(entries) => {
                let i = match entries.binary_search_by(|(n, _)| n.cmp(&name)) {
                    Ok(i) => {
                        return Inserted::Replaced(std::mem::replace(&mut entries[i].1, value))
                    }
                    Err(i) => i,
                };
                let right = match split(entries, i, rightmost) {
                    Split::Room => {
                        insert_exact(entries, i, (name, value));
                        return Inserted::Added;
                    }
                    Split::Append => with_first(name, value),
                    Split::Median(mut right) => {
                        match i.checked_sub(entries.len()) {
                            Some(at) => insert_exact(&mut right, at, (name, value)),
                            None => insert_exact(entries, i, (name, value)),
                        }
                        right
                    }
                };
                let low = right[0].0.clone();
                Inserted::Split(low, Arc::new(Chunk::Leaf(right)))
            }
            Chunk::Branch { keys, children } => {
                // Branches have one key fewer than children, so `i` is a child.
                let i = keys.partition_point(|k| *k <= name);
                let last = rightmost && i + 1 == children.len();
                let (low, new) = match Arc::make_mut(&mut children[i]).insert(name, value, last) {
                    Inserted::Split(low, new) => (low, new),
                    done => return done,
                };
                // As a leaf, with the new child for the entry and its lowest name for the
                // key; the key between the halves moves up to the parent.
                let (up, right_keys, right) = match split(children, i + 1, rightmost) {
                    Split::Room => {
                        insert_exact(keys, i, low);
                        insert_exact(children, i + 1, new);
                        return Inserted::Added;
                    }
                    Split::Append => {
                        let mut right = Vec::with_capacity(CAP);
                        right.push(new);
                        (low, Vec::with_capacity(CAP - 1), right)
                    }
                    Split::Median(mut right) => {
                        let mut right_keys = keys.split_off(children.len());
                        let up = keys.pop().expect("the left half keeps a key per child");
                        keys.shrink_to_fit();
                        match (i + 1).checked_sub(children.len()) {
                            // The new child goes first on the right: the key that moved
                            // up separates it from the left, its own from the old first.
                            Some(0) => {
                                insert_exact(&mut right_keys, 0, up);
                                insert_exact(&mut right, 0, new);
                                (low, right_keys, right)
                            }
                            Some(at) => {
                                insert_exact(&mut right_keys, at - 1, low);
                                insert_exact(&mut right, at, new);
                                (up, right_keys, right)
                            }
                            None => {
                                insert_exact(keys, i, low);
                                insert_exact(children, i + 1, new);
                                (up, right_keys, right)
                            }
                        }
                    }
                };
                Inserted::Split(
                    up,
                    Arc::new(Chunk::Branch {
                        keys: right_keys,
                        children: right,
                    }),
                )
            }
        }
    }

    /// Removes `name`; returns its value and whether this chunk is now below [`MIN`].
    /// `rightmost`: this chunk is the last at its level.
    fn remove(&mut self, name: &Probe<'_>, rightmost: bool) -> Option<(V, bool)> {
        match self {
            Chunk::Leaf(entries) => {
                let i = entries.binary_search_by(|(n, _)| n.cmp_probe(name)).ok()?;
                let (_, value) = entries.remove(i);
                Some((value, entries.len() < MIN))
            }
            Chunk::Branch { keys, children } => {
                let i = keys.partition_point(|k| k.cmp_probe(name).is_le());
                let last = rightmost && i + 1 == children.len();
                let (value, low) = Arc::make_mut(children.get_mut(i)?).remove(name, last)?;
                if low {
                    merge_around(keys, children, i, last);
                }
                Some((value, children.len() < MIN))
            }
        }
    }
}

/// Inserts into `v` at `i`, growing its allocation by a few entries at a time: chunks are
/// many and mostly full, and doubling would leave up to half of each unused.
fn insert_exact<T>(v: &mut Vec<T>, i: usize, item: T) {
    const STEP: usize = 4;
    if v.len() == v.capacity() {
        v.reserve_exact(STEP.min(CAP.saturating_sub(v.len())).max(1));
    }
    v.insert(i, item);
}

/// The chunk an append starts: room for a whole chunk at once, since the entries after
/// this one most likely arrive the same way (only the last chunk of a map has room to
/// spare).
fn with_first<V>(name: Name, value: V) -> Vec<(Name, V)> {
    let mut entries = Vec::with_capacity(CAP);
    entries.push((name, value));
    entries
}

/// Where an entry inserted at `i` into a chunk goes.
enum Split<T> {
    /// The chunk has room for it.
    Room,
    /// The chunk is the last at its level, full, and the entry goes after its last: it
    /// starts a new chunk on the right and the full one stays as it is.
    Append,
    /// The chunk is full and the entry goes elsewhere: the chunk was split at its median,
    /// and this is the right half.
    Median(Vec<T>),
}

fn split<T>(v: &mut Vec<T>, i: usize, rightmost: bool) -> Split<T> {
    if v.len() < CAP {
        Split::Room
    } else if rightmost && i == v.len() {
        Split::Append
    } else {
        let right = v.split_off(v.len() / 2);
        v.shrink_to_fit();
        Split::Median(right)
    }
}

/// Tidies up after `children[i]` fell below [`MIN`]: an empty child is dropped with its
/// key (unless it is the map's `rightmost` leaf), any other merged into a neighbour if the
/// two fit in one chunk.
fn merge_around<V: Clone>(
    keys: &mut Vec<Name>,
    children: &mut Vec<Arc<Chunk<V>>>,
    i: usize,
    rightmost: bool,
) {
    if children[i].size() == 0 {
        if rightmost && matches!(*children[i], Chunk::Leaf(_)) {
            // The map's last leaf is where appends go: kept when emptied, it takes the
            // next append without a split (a node created and deleted at the end of a
            // directory whose last chunk is full would otherwise split and merge every
            // time). It is the only empty chunk ever kept.
            return;
        }
        // Anything else empty goes without touching its neighbours. A branch can be left
        // with no child here; its parent then removes it in turn.
        children.remove(i);
        if !keys.is_empty() {
            keys.remove(i.saturating_sub(1));
        }
        return;
    }
    let fits = |a: usize, b: usize| children[a].size() + children[b].size() <= CAP;
    let left = if i > 0 && fits(i - 1, i) {
        i - 1
    } else if i + 1 < children.len() && fits(i, i + 1) {
        i
    } else {
        return;
    };
    let right = children.remove(left + 1);
    let between = keys.remove(left);
    let right = Arc::try_unwrap(right).unwrap_or_else(|shared| (*shared).clone());
    match (Arc::make_mut(&mut children[left]), right) {
        (Chunk::Leaf(l), Chunk::Leaf(r)) => {
            l.reserve_exact(r.len());
            l.extend(r);
        }
        (
            Chunk::Branch { keys, children },
            Chunk::Branch {
                keys: r_keys,
                children: r_children,
            },
        ) => {
            keys.reserve_exact(r_keys.len() + 1);
            keys.push(between);
            keys.extend(r_keys);
            children.reserve_exact(r_children.len());
            children.extend(r_children);
        }
        // Siblings are at the same depth, so of the same kind.
        _ => unreachable!("siblings of different depths"),
    }
}

/// Children by name, in name order; see the module docs.
#[derive(Clone)]
pub(super) struct Children<V> {
    root: Arc<Chunk<V>>,
    len: usize,
}

impl<V: Clone> Default for Children<V> {
    fn default() -> Self {
        Children {
            root: Arc::new(Chunk::Leaf(Vec::new())),
            len: 0,
        }
    }
}

impl<V: Clone> Children<V> {
    /// Number of children.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The child named `name`.
    pub(super) fn get(&self, name: &[u8]) -> Option<&V> {
        self.root.get(&Probe::new(name))
    }

    /// The child named `name`, to change; the chunks on the way are unshared first.
    pub(super) fn get_mut(&mut self, name: &[u8]) -> Option<&mut V> {
        Arc::make_mut(&mut self.root).get_mut(&Probe::new(name))
    }

    /// Adds `value` as `name`; returns the value it replaced.
    pub(super) fn insert(&mut self, name: &str, value: V) -> Option<V> {
        match Arc::make_mut(&mut self.root).insert(Name::new(name), value, true) {
            Inserted::Replaced(old) => return Some(old),
            Inserted::Added => {}
            Inserted::Split(low, right) => {
                let left = std::mem::replace(&mut self.root, Arc::new(Chunk::Leaf(Vec::new())));
                self.root = Arc::new(Chunk::Branch {
                    keys: vec![low],
                    children: vec![left, right],
                });
            }
        }
        self.len += 1;
        None
    }

    /// Removes the child named `name`.
    pub(super) fn remove(&mut self, name: &[u8]) -> Option<V> {
        let (value, _) = Arc::make_mut(&mut self.root).remove(&Probe::new(name), true)?;
        self.len -= 1;
        if self.len == 0 {
            // Nothing left to keep a last leaf for.
            self.root = Arc::new(Chunk::Leaf(Vec::new()));
        }
        // A branch left with one child hands the root down to it.
        while let Chunk::Branch { children, .. } = &*self.root {
            match children.as_slice() {
                [only] => self.root = only.clone(),
                _ => break,
            }
        }
        Some(value)
    }

    /// The children with their names, in name order.
    pub(super) fn iter(&self) -> Iter<'_, V> {
        Iter {
            stack: vec![std::slice::from_ref(&self.root).iter()],
            leaf: [].iter(),
        }
    }
}

/// The entries of a [`Children`] in name order.
pub(super) struct Iter<'a, V> {
    /// The branches on the way down to `leaf`, each at its next child.
    stack: Vec<std::slice::Iter<'a, Arc<Chunk<V>>>>,
    leaf: std::slice::Iter<'a, (Name, V)>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((name, value)) = self.leaf.next() {
                return Some((name.as_str(), value));
            }
            let next = loop {
                let top = self.stack.last_mut()?;
                match top.next() {
                    Some(chunk) => break chunk,
                    None => {
                        self.stack.pop();
                    }
                }
            };
            match &**next {
                Chunk::Leaf(entries) => self.leaf = entries.iter(),
                Chunk::Branch { children, .. } => self.stack.push(children.iter()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Checks the B+tree's invariants: every leaf at one depth, keys in order within
    /// and across chunks, each branch with one key fewer than children, no chunk over
    /// [`CAP`], no empty leaf but the last, and `len` the number of entries. Returns the
    /// levels of branches.
    fn check<V: Clone>(map: &Children<V>) -> usize {
        fn walk<V: Clone>(
            chunk: &Chunk<V>,
            low: Option<&[u8]>,
            high: Option<&[u8]>,
            count: &mut usize,
        ) -> usize {
            let in_range = |k: &[u8]| low.is_none_or(|l| l <= k) && high.is_none_or(|h| k < h);
            assert!(chunk.size() <= CAP);
            assert!(
                chunk.size() > 0 || high.is_none(),
                "an empty chunk before the last"
            );
            match chunk {
                Chunk::Leaf(entries) => {
                    assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
                    assert!(entries.iter().all(|(n, _)| in_range(n.as_bytes())));
                    *count += entries.len();
                    0
                }
                Chunk::Branch { keys, children } => {
                    assert_eq!(keys.len() + 1, children.len());
                    assert!(keys.windows(2).all(|w| w[0] < w[1]));
                    assert!(keys.iter().all(|k| in_range(k.as_bytes())));
                    let depths: Vec<usize> = children
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let lo = if i == 0 {
                                low
                            } else {
                                Some(keys[i - 1].as_bytes())
                            };
                            let hi = keys.get(i).map(Name::as_bytes).or(high);
                            walk(c, lo, hi, count)
                        })
                        .collect();
                    assert!(depths.windows(2).all(|w| w[0] == w[1]), "{depths:?}");
                    depths[0] + 1
                }
            }
        }
        let mut count = 0;
        let depth = walk(&map.root, None, None, &mut count);
        assert_eq!(count, map.len());
        depth
    }

    /// The mean fill of a map's leaves.
    fn leaf_fill<V: Clone>(map: &Children<V>) -> f64 {
        fn leaves<V: Clone>(chunk: &Chunk<V>, out: &mut Vec<usize>) {
            match chunk {
                Chunk::Leaf(e) => out.push(e.len()),
                Chunk::Branch { children, .. } => children.iter().for_each(|c| leaves(c, out)),
            }
        }
        let mut sizes = Vec::new();
        leaves(&map.root, &mut sizes);
        map.len() as f64 / (sizes.len() * CAP) as f64
    }

    #[test]
    fn short_names_are_inline_and_a_name_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Name>(), 16);
        for name in ["", "a", "f-123456", "lock-0000000042"] {
            let n = Name::new(name);
            assert!(matches!(n, Name::Inline { .. }), "{name}");
            assert_eq!(n.as_str(), name);
        }
        let long = "a-name-longer-than-fifteen-bytes-é";
        assert!(matches!(Name::new(long), Name::Heap(_)));
        assert_eq!(Name::new(long).as_str(), long);
    }

    #[test]
    fn names_order_as_their_bytes() {
        let names = [
            "", "\0", "a", "a\0", "a\0b", "ab", "b", "f-000009", "f-000010",
        ];
        let long = ["a-name-longer-than-fifteen", "b-name-longer-than-fifteen"];
        let all: Vec<&str> = names.iter().chain(&long).copied().collect();
        for x in &all {
            for y in &all {
                let expected = x.as_bytes().cmp(y.as_bytes());
                assert_eq!(Name::new(x).cmp(&Name::new(y)), expected, "{x:?} {y:?}");
                let probe = Probe::new(y.as_bytes());
                assert_eq!(Name::new(x).cmp_probe(&probe), expected, "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn names_appended_in_order_fill_their_chunks() {
        let mut map = Children::default();
        for i in 0..100_000 {
            assert_eq!(map.insert(&format!("f-{i:06}"), i), None);
        }
        // Full chunks at every level: as few levels as the entries need.
        let mut chunks = 100_000_usize.div_ceil(CAP);
        let mut levels = 0;
        while chunks > 1 {
            chunks = chunks.div_ceil(CAP);
            levels += 1;
        }
        assert_eq!(check(&map), levels);
        assert!(leaf_fill(&map) > 0.99, "{}", leaf_fill(&map));
        assert_eq!(map.get(b"f-054321"), Some(&54321));
        assert!(map.iter().map(|(_, v)| *v).eq(0..100_000));
    }

    #[test]
    fn names_in_descending_order_after_a_full_chunk_do_not_each_start_one() {
        let mut map = Children::default();
        for i in 0..CAP {
            map.insert(&format!("a-{i:04}"), i);
        }
        for i in (0..2_000).rev() {
            map.insert(&format!("r-{i:06}"), i);
        }
        check(&map);
        assert!(leaf_fill(&map) > 0.5, "{}", leaf_fill(&map));
    }

    #[test]
    fn names_in_random_order_still_fill_chunks_over_half() {
        let mut map = Children::default();
        let mut x: u32 = 12345;
        for _ in 0..50_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            map.insert(&format!("n-{x:08x}"), x);
        }
        check(&map);
        assert!(leaf_fill(&map) > 0.5, "{}", leaf_fill(&map));
    }

    #[test]
    fn creating_and_deleting_at_the_end_of_a_full_directory_keeps_its_shape() {
        let mut map = Children::default();
        for i in 0..CAP * CAP {
            map.insert(&format!("f-{i:06}"), i);
        }
        fn leaves(chunk: &Chunk<usize>) -> usize {
            match chunk {
                Chunk::Branch { children, .. } => children.iter().map(|c| leaves(c)).sum(),
                Chunk::Leaf(_) => 1,
            }
        }
        let chunks = |map: &Children<usize>| leaves(&map.root);
        let before = chunks(&map);
        for i in 0..1_000 {
            let name = format!("g-{i:06}");
            map.insert(&name, i);
            assert_eq!(map.remove(name.as_bytes()), Some(i));
            check(&map);
        }
        assert_eq!(
            chunks(&map),
            before + 1,
            "one empty last leaf kept for appends"
        );
        assert_eq!(map.len(), CAP * CAP);
    }

    #[test]
    fn removing_everything_in_order_leaves_an_empty_map() {
        let mut map = Children::default();
        for i in 0..10_000 {
            map.insert(&format!("{i:05}"), i);
        }
        for i in 0..10_000 {
            assert_eq!(map.remove(format!("{i:05}").as_bytes()), Some(i));
            if i % 997 == 0 {
                check(&map);
            }
        }
        assert!(map.is_empty());
        assert_eq!(check(&map), 0, "the root is a leaf again");
        assert_eq!(map.remove(b"00000"), None);
    }

    #[test]
    fn a_clone_is_a_frozen_copy() {
        let mut map = Children::default();
        for i in 0..5_000 {
            map.insert(&format!("{i:05}"), i);
        }
        let frozen = map.clone();
        for i in (0..5_000).step_by(3) {
            *map.get_mut(format!("{i:05}").as_bytes()).expect("present") += 1_000_000;
        }
        for i in (1..5_000).step_by(3) {
            map.remove(format!("{i:05}").as_bytes());
        }
        map.insert("zzz", 7);
        check(&map);
        check(&frozen);
        assert!(frozen.iter().map(|(_, v)| *v).eq(0..5_000));
        assert_eq!(frozen.len(), 5_000);
        assert_eq!(map.get(b"00003"), Some(&1_000_003));
        assert_eq!(map.get(b"00001"), None);
        assert_eq!(map.get(b"zzz"), Some(&7));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Change(u16, u32),
        Freeze,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct names, so that removes and replacements hit.
        prop_oneof![
            4 => (0u16..600, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u16..600).prop_map(Op::Remove),
            1 => (0u16..600, any::<u32>()).prop_map(|(k, v)| Op::Change(k, v)),
            1 => Just(Op::Freeze),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_an_ordered_map_and_frozen_copies_stay_put(
            ops in proptest::collection::vec(op(), 1..3_000)
        ) {
            let mut map = Children::default();
            let mut model = BTreeMap::new();
            let mut frozen: Vec<(Children<u32>, BTreeMap<String, u32>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = format!("k{k}");
                        prop_assert_eq!(map.insert(&k, v), model.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = format!("k{k}");
                        prop_assert_eq!(map.remove(k.as_bytes()), model.remove(&k));
                    }
                    Op::Change(k, v) => {
                        let k = format!("k{k}");
                        if let Some(slot) = map.get_mut(k.as_bytes()) {
                            *slot = v;
                        }
                        if let Some(slot) = model.get_mut(&k) {
                            *slot = v;
                        }
                    }
                    Op::Freeze => frozen.push((map.clone(), model.clone())),
                }
                prop_assert_eq!(map.len(), model.len());
            }
            check(&map);
            prop_assert!(map.iter().map(|(k, v)| (k.to_owned(), *v)).eq(model.clone()));
            for (k, v) in &model {
                prop_assert_eq!(map.get(k.as_bytes()), Some(v));
            }
            for (copy, then) in frozen {
                check(&copy);
                prop_assert!(copy.iter().map(|(k, v)| (k.to_owned(), *v)).eq(then));
            }
        }
    }
}
