//! One znode as the tree stores it: its data, ACL and stored Stat, and its children in a
//! persistent ordered map from their names ([`super::children`]).
//!
//! Owns the node's layout, which is what a million-node tree's memory comes down to:
//! a node is one allocation of 96 bytes, its data a second one (a count, a length and the
//! bytes), and a child costs its parent's map about one 24-byte entry: its name (16
//! bytes, inline when short, which most names are) and one pointer. A name lives in the parent's map rather than in
//! the node so that a lookup compares names where the map keeps them, without visiting
//! every node it passes over (a cache miss each: a lookup in a directory of a million
//! children took twice as long that way). Nothing here knows paths or txns;
//! [`super::DataTree`] does.
//!
//! Nodes and data are shared through `triomphe`'s `Arc` and `ThinArc` rather than the
//! standard `Arc<T>` and `Arc<[u8]>`: no weak count (8 bytes less per node) and a thin
//! pointer to the data (8 bytes less again), which brings a node's allocation down to a
//! 96-byte size class. `triomphe` is a small, maintained crate (from Servo) that does
//! exactly this.

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::sync::Arc as StdArc;

use bytes::Bytes;
use triomphe::{Arc, ThinArc};
use zk_proto::{Acl, Stat};

use super::children::Children;

/// Stored `ephemeralOwner` of a container node (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Top byte marking an "extended" ephemeral owner (TTL nodes).
const EXTENDED_MASK: i64 = 0xFF00_0000_0000_0000u64 as i64;
/// Low 40 bits of a TTL owner: the TTL in ms.
const TTL_BITS: i64 = 0xFF_FFFF_FFFF;

/// The stored ephemeral owner of a TTL node with `ttl_ms`.
pub fn ttl_owner(ttl_ms: i64) -> i64 {
    EXTENDED_MASK | (ttl_ms & TTL_BITS)
}

/// What kind of node a stored ephemeral owner denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Persistent (owner 0).
    Persistent,
    /// Ephemeral, owned by a session.
    Ephemeral(i64),
    /// Container.
    Container,
    /// TTL node with its TTL in ms.
    Ttl(i64),
}

impl NodeKind {
    /// Decodes a stored owner.
    pub fn of(owner: i64) -> Self {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if owner & EXTENDED_MASK == EXTENDED_MASK {
            NodeKind::Ttl(owner & TTL_BITS)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }
}

/// `StatPersisted`: what the tree stores; numChildren and dataLength are derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredStat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last setData.
    pub mzxid: i64,
    /// Create time (ms).
    pub ctime: i64,
    /// Last setData time (ms).
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Number of child *creations* (the reported cversion is derived from it).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Session id, container marker, TTL encoding or 0.
    pub ephemeral_owner: i64,
    /// zxid of the last child list change.
    pub pzxid: i64,
}

impl StoredStat {
    /// The Stat as clients see it: cversion = 2·creates − children (Apache's
    /// `DataNode.copyStat`), ephemeralOwner 0 for containers and TTL nodes.
    pub fn reported(&self, num_children: i32, data_length: i32) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: match NodeKind::of(self.ephemeral_owner) {
                NodeKind::Ephemeral(owner) => owner,
                _ => 0,
            },
            data_length,
            num_children,
            pzxid: self.pzxid,
        }
    }
}

/// A node as the tree and its frozen copies share it.
pub type SharedNode = Arc<Node>;

/// A node's data: one shared allocation holding a count, the length and the bytes,
/// behind a thin pointer.
#[derive(Clone)]
pub struct Data(ThinArc<(), u8>);

impl Data {
    /// A shared copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Data(ThinArc::from_header_and_slice((), bytes))
    }
}

impl Deref for Data {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0.slice
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Data {}

impl AsRef<[u8]> for Data {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.len())
    }
}

/// One znode. Its name is its parent's business (see the module docs).
#[derive(Clone)]
pub struct Node {
    /// The data; `None` is a null buffer.
    pub data: Option<Data>,
    /// The ACL, shared between nodes with equal ACLs.
    pub acl: StdArc<Vec<Acl>>,
    /// Stored metadata.
    pub stat: StoredStat,
    /// Boxed so that a leaf (most nodes) pays one pointer for it, not a set's header.
    children: Option<Box<Children<SharedNode>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("data", &self.data.as_ref().map(|d| d.len()))
            .field("stat", &self.stat)
            .field("children", &self.num_children())
            .finish()
    }
}

impl Node {
    /// A node with no children.
    pub fn new(data: Option<&[u8]>, acl: StdArc<Vec<Acl>>, stat: StoredStat) -> Self {
        Node {
            data: data.map(Data::new),
            acl,
            stat,
            children: None,
        }
    }

    /// The data, if not null.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// The data as a reply carries it: small values copied, large ones shared.
    pub fn data_bytes(&self) -> Option<Bytes> {
        const SHARE_FROM: usize = 4096;
        self.data.as_ref().map(|d| {
            if d.len() < SHARE_FROM {
                Bytes::copy_from_slice(d)
            } else {
                Bytes::from_owner(d.clone())
            }
        })
    }

    /// The Stat as clients see it (see [`StoredStat::reported`]).
    pub fn stat(&self) -> Stat {
        self.stat.reported(
            self.num_children() as i32,
            self.data.as_ref().map_or(0, |d| d.len() as i32),
        )
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        NodeKind::of(self.stat.ephemeral_owner)
    }

    /// Number of children.
    pub fn num_children(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    /// The children's names, in order.
    pub fn children(&self) -> impl Iterator<Item = &str> {
        self.child_nodes().map(|(name, _)| name)
    }

    /// The children with their names, in name order.
    pub fn child_nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.children
            .iter()
            .flat_map(|c| c.iter())
            .map(|(name, node)| (name, &**node))
    }

    /// The child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.as_ref()?.get(name.as_bytes()).map(|c| &**c)
    }

    /// The child named `name`, to change: it is unshared from any frozen copy first (it,
    /// and the chunks of this node's map on the way to it).
    pub(crate) fn child_mut(&mut self, name: &str) -> Option<&mut Node> {
        let child = self.children.as_mut()?.get_mut(name.as_bytes())?;
        Some(Arc::make_mut(child))
    }

    /// Removes the child named `name`.
    pub(crate) fn remove_child(&mut self, name: &str) -> Option<Arc<Node>> {
        let child = self.children.as_mut()?.remove(name.as_bytes())?;
        if self.children.as_ref().is_some_and(|c| c.is_empty()) {
            self.children = None;
        }
        Some(child)
    }

    /// Adds a child named `name`, replacing one of the same name; says whether the name
    /// was new.
    pub(crate) fn put_child(&mut self, name: &str, child: Arc<Node>) -> bool {
        self.children
            .get_or_insert_with(Default::default)
            .insert(name, child)
            .is_none()
    }
}

/// How many levels of nodes one drop may go down before it hands deeper subtrees to the
/// outermost drop on the thread: a few hundred bytes of stack per level.
const DROP_DEPTH: usize = 64;

thread_local! {
    /// Levels of node drops under way on this thread.
    static DROPPING: Cell<usize> = const { Cell::new(0) };
    /// Child sets deeper than [`DROP_DEPTH`], waiting for the outermost drop.
    static DEFERRED: RefCell<Vec<Children<SharedNode>>> = const { RefCell::new(Vec::new()) };
}

/// Dropping a node frees its subtree with bounded recursion: any client can build a chain
/// of nodes thousands of levels deep, and freeing it must not overflow the stack. The
/// child sets are dropped as usual (so a set shared with a frozen copy costs a count
/// decrement, not a walk), only past `DROP_DEPTH` levels they wait in a list that the
/// outermost drop on the thread works through.
impl Drop for Node {
    fn drop(&mut self) {
        let Some(children) = self.children.take() else {
            return;
        };
        let depth = DROPPING.with(|d| d.replace(d.get() + 1));
        if depth < DROP_DEPTH {
            drop(children);
        } else {
            DEFERRED.with(|q| q.borrow_mut().push(*children));
        }
        if depth == 0 {
            // The outermost drop: what was deferred is dropped from here, one level deep.
            while let Some(children) = DEFERRED.with(|q| q.borrow_mut().pop()) {
                drop(children);
            }
        }
        DROPPING.with(|d| d.set(depth));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_small() {
        // With the Arc's count, one allocation in the allocators' 96-byte class.
        assert!(
            std::mem::size_of::<Node>() <= 88,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    #[test]
    fn children_come_out_in_name_order_and_are_found_by_name() {
        let acl = StdArc::new(Acl::open_unsafe());
        let mut parent = Node::new(None, acl.clone(), StoredStat::default());
        for name in ["b", "a", "c-long-name-on-the-heap-for-sure"] {
            let child = Node::new(Some(b"x"), acl.clone(), StoredStat::default());
            assert!(parent.put_child(name, Arc::new(child)));
        }
        assert_eq!(
            parent.children().collect::<Vec<_>>(),
            ["a", "b", "c-long-name-on-the-heap-for-sure"]
        );
        assert_eq!(parent.child("b").and_then(Node::data), Some(&b"x"[..]));
        assert!(parent.remove_child("a").is_some());
        assert!(parent.remove_child("a").is_none());
        assert_eq!(parent.num_children(), 2);
        parent.remove_child("b");
        parent.remove_child("c-long-name-on-the-heap-for-sure");
        assert!(parent.children.is_none(), "an emptied set is dropped");
    }

    #[test]
    fn a_chain_a_million_levels_deep_drops_without_recursion() {
        let acl = StdArc::new(Acl::open_unsafe());
        let mut chain = Node::new(None, acl.clone(), StoredStat::default());
        for _ in 0..1_000_000 {
            let mut parent = Node::new(None, acl.clone(), StoredStat::default());
            parent.put_child("n", Arc::new(chain));
            chain = parent;
        }
        // A frozen copy of part of the chain keeps it alive while the rest goes.
        let mut middle = &chain;
        for _ in 0..500_000 {
            middle = middle.child("n").expect("a child");
        }
        let kept = middle.clone();
        drop(chain);
        let depth = std::iter::successors(Some(&kept), |n| n.child("n")).count();
        assert_eq!(depth, 500_001);
    }

    #[test]
    fn large_data_is_shared_with_replies_small_data_copied() {
        let acl = StdArc::new(Acl::open_unsafe());
        let big = vec![7u8; 10_000];
        let node = Node::new(Some(&big), acl.clone(), StoredStat::default());
        let reply = node.data_bytes();
        assert_eq!(reply.as_deref(), Some(&big[..]));
        let count = |n: &Node| n.data.as_ref().map(|d| ThinArc::strong_count(&d.0));
        assert_eq!(count(&node), Some(2));
        drop(reply);
        assert_eq!(count(&node), Some(1));
        let small = Node::new(Some(b"v"), acl, StoredStat::default());
        assert_eq!(small.data_bytes().as_deref(), Some(&b"v"[..]));
    }
}
