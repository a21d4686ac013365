//! The data tree: every znode with its data, ACL and stored Stat, plus the indexes the
//! server needs (ephemerals by session, containers, TTL nodes, live sessions).
//!
//! Owns applying transactions ([`DataTree::apply`]) and reading nodes. It must not decide
//! anything: whether a change is allowed, which zxid or time it gets, which sequence number
//! a node receives — all of that was fixed when the txn was made ([`crate::prep`]). The
//! same `apply` serves the live path, log replay and snapshot recovery, so it is
//! deterministic and touches no clock.
//!
//! # Layout and copy-on-write
//! The tree is a real tree: each [`Node`] holds its children in a persistent ordered map
//! from their names to shared nodes, so a name is stored once and a path is never stored
//! at all (Apache keeps every full path in a map *and* every name in its parent's set).
//! A lookup walks the path's segments from the root.
//!
//! [`DataTree::snapshot`] is O(1): it freezes the tree as of its last zxid by sharing the
//! root, and the frozen copy can be written to disk or streamed to a follower on another
//! thread while the live tree keeps changing. A change made while a frozen copy is alive
//! copies the nodes on the changed path and a few chunks of their child maps; with no copy
//! alive, changes are in place. The child maps are our own B+tree
//! (`tree/children.rs`), shaped for directories that grow at their end.

mod children;
mod node;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use zk_proto::path::{basename, parent};
use zk_proto::{Acl, EventType, Stat};

pub use node::{ttl_owner, Data, Node, NodeKind, SharedNode, StoredStat, CONTAINER_OWNER};

use crate::quota::{stat_path, trim_quota_path, QuotaPaths, StatsTrack, LIMIT_NODE, STAT_NODE};
use crate::txn::{Txn, TxnHeader};

/// A change to the tree that watches may care about: what happened, where, and the ACL
/// of the node the event is about (the parent's for NodeChildrenChanged), which decides
/// who may be told (Apache ZOOKEEPER-4799).
pub type NodeEvent = (EventType, String, Arc<Vec<Acl>>);

/// Why a txn could not be applied: the txn contradicts the tree, which means the txn
/// stream or the tree is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("txn {zxid:#x} cannot apply: {reason}")]
pub struct ApplyError {
    /// The txn's zxid.
    pub zxid: i64,
    /// What contradicted.
    pub reason: String,
}

/// What applying one txn did, for the caller to act on.
#[derive(Debug, Default)]
pub struct Applied {
    /// Watch events, in order.
    pub events: Vec<NodeEvent>,
    /// The Stat of the node each create, setData and setACL (sub-)txn touched, right
    /// after it was applied, in txn order: what the reply to that op reports.
    pub stats: Vec<Stat>,
}

impl Applied {
    /// Empties both lists, keeping their allocations.
    pub fn clear(&mut self) {
        self.events.clear();
        self.stats.clear();
    }
}

/// The segments of an absolute path (none for the root, and for `""`, Apache's alias of
/// the root); `None` if the path is not absolute.
fn segments(path: &str) -> Option<std::str::Split<'_, char>> {
    let mut split = match path {
        "" | "/" => "".split('/'),
        _ => path.strip_prefix('/')?.split('/'),
    };
    if path.len() <= 1 {
        // "".split('/') yields one empty segment; the root has none.
        split.next();
    }
    Some(split)
}

/// The node at `path` below `root`.
fn find<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    segments(path)?.try_fold(root, |node, name| node.child(name))
}

/// A node's children with their names, as [`Iter`] goes through them.
type Children<'a> = Box<dyn Iterator<Item = (&'a str, &'a Node)> + 'a>;

/// Every node below and including `root`, parents before their children, each with its
/// path.
pub struct Iter<'a> {
    root: Option<&'a Node>,
    stack: Vec<(String, Children<'a>)>,
}

impl<'a> Iter<'a> {
    fn new(root: &'a Node) -> Self {
        Iter {
            root: Some(root),
            stack: Vec::new(),
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (String, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(root) = self.root.take() {
            self.stack
                .push(("/".to_owned(), Box::new(root.child_nodes())));
            return Some(("/".to_owned(), root));
        }
        loop {
            let (parent, children) = self.stack.last_mut()?;
            let Some((name, node)) = children.next() else {
                self.stack.pop();
                continue;
            };
            let path = child_path(parent, name);
            if node.num_children() > 0 {
                self.stack
                    .push((path.clone(), Box::new(node.child_nodes())));
            }
            return Some((path, node));
        }
    }
}

/// The tree frozen at one zxid ([`DataTree::snapshot`]): what a snapshot file or a SNAP
/// sync holds. Cheap to clone and to send to another thread.
#[derive(Debug, Clone)]
pub struct TreeSnapshot {
    root: SharedNode,
    count: usize,
    sessions: BTreeMap<i64, i32>,
    last_zxid: i64,
}

impl TreeSnapshot {
    /// The zxid of the last txn the copy reflects.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Live sessions and their timeouts.
    pub fn sessions(&self) -> &BTreeMap<i64, i32> {
        &self.sessions
    }

    /// Every node with its path, parents before their children.
    pub fn iter(&self) -> Iter<'_> {
        Iter::new(&self.root)
    }

    /// Number of nodes (without Apache's root alias).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the copy has no node (never true: a tree has a root).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// All znodes and their indexes.
#[derive(Debug, Clone)]
pub struct DataTree {
    root: SharedNode,
    /// Number of nodes, the root included.
    count: usize,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    sessions: BTreeMap<i64, i32>,
    acls: HashMap<Vec<Acl>, Arc<Vec<Acl>>>,
    last_zxid: i64,
    data_size: u64,
    /// Paths with a quota, whose stats nodes every write below them updates.
    quotas: QuotaPaths,
    /// Fingerprint of every node and session ([`crate::digest`]), kept as txns apply.
    digest: u64,
}

/// The system nodes every server has.
pub const SYSTEM_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A tree with the system nodes `/`, `/zookeeper`, `/zookeeper/quota`,
    /// `/zookeeper/config` (read-only ACL, aversion −1), all-zero stats, zxid 0.
    pub fn new() -> Self {
        let mut acls = HashMap::new();
        let open = intern_acl(&mut acls, Acl::open_unsafe());
        let read = intern_acl(&mut acls, Acl::read_unsafe());
        let root = Node::new(Some(b""), open.clone(), StoredStat::default());
        let mut tree = DataTree::empty(SharedNode::new(root), 1, BTreeMap::new(), 0);
        tree.acls = acls;
        tree.digest = crate::digest::node("/", &tree.root);
        for path in &SYSTEM_PATHS[1..] {
            let mut stat = StoredStat::default();
            let acl = if *path == "/zookeeper/config" {
                stat.aversion = -1;
                read.clone()
            } else {
                open.clone()
            };
            let node = Node::new(Some(b""), acl, stat);
            tree.digest = tree.digest.wrapping_add(crate::digest::node(path, &node));
            tree.count += 1;
            let parent_path = parent(path).unwrap_or("/");
            tree.update(parent_path, |p| {
                p.put_child(basename(path), SharedNode::new(node))
            });
        }
        tree
    }

    /// A tree of `root` and the `count` nodes below and including it, its indexes empty.
    fn empty(root: SharedNode, count: usize, sessions: BTreeMap<i64, i32>, last_zxid: i64) -> Self {
        DataTree {
            root,
            count,
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions,
            acls: HashMap::new(),
            last_zxid,
            data_size: 0,
            quotas: QuotaPaths::default(),
            digest: 0,
        }
    }

    /// The node at `path` (`""` is an alias of the root, as in Apache).
    pub fn get(&self, path: &str) -> Option<&Node> {
        find(&self.root, path)
    }

    /// Changes the node at `path`, keeping the digest. The nodes on the way are unshared
    /// from any frozen copy as the walk passes them; a loop, not recursion, because a path
    /// may be thousands of levels deep.
    fn update<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let segments = segments(path)?;
        let mut node = SharedNode::make_mut(&mut self.root);
        for name in segments {
            node = node.child_mut(name)?;
        }
        let path = if path.is_empty() { "/" } else { path };
        let before = crate::digest::node(path, node);
        let result = f(node);
        let after = crate::digest::node(path, node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        Some(result)
    }

    /// Adds `node` at `path` under its existing parent, changing the parent with `f`.
    fn insert_node<R>(
        &mut self,
        path: &str,
        node: Node,
        f: impl FnOnce(&mut Node) -> R,
    ) -> Option<R> {
        let parent_path = parent(path)?;
        let digest = crate::digest::node(path, &node);
        let node = SharedNode::new(node);
        let result = self.update(parent_path, |p| {
            p.put_child(basename(path), node);
            f(p)
        })?;
        self.digest = self.digest.wrapping_add(digest);
        self.count += 1;
        Some(result)
    }

    /// Takes the node at `path` out of the tree, changing its parent with `f`.
    fn remove_node<R>(
        &mut self,
        path: &str,
        f: impl FnOnce(&mut Node) -> R,
    ) -> Option<(SharedNode, R)> {
        let parent_path = parent(path)?;
        let (node, result) = self
            .update(parent_path, |p| {
                let node = p.remove_child(basename(path))?;
                Some((node, f(p)))
            })
            .flatten()?;
        self.digest = self.digest.wrapping_sub(crate::digest::node(path, &node));
        self.count -= 1;
        Some((node, result))
    }

    /// The fingerprint of every node and session (see [`crate::digest`]): equal trees have
    /// equal digests.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The tree frozen as of now, in O(1) (see the module docs).
    pub fn snapshot(&self) -> TreeSnapshot {
        TreeSnapshot {
            root: self.root.clone(),
            count: self.count,
            sessions: self.sessions.clone(),
            last_zxid: self.last_zxid,
        }
    }

    /// The live tree a frozen copy describes, its indexes rebuilt.
    pub fn from_snapshot(snapshot: TreeSnapshot) -> DataTree {
        let mut tree = DataTree::empty(
            snapshot.root,
            snapshot.count,
            snapshot.sessions,
            snapshot.last_zxid,
        );
        tree.index();
        tree
    }

    /// The zxid of the last applied txn.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Number of nodes as Apache counts them (its `""` root alias included).
    pub fn node_count(&self) -> usize {
        self.count + 1
    }

    /// Approximate bytes of data and paths, as `mntr` reports it.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// Live sessions and their timeouts, as recorded by txns.
    pub fn sessions(&self) -> &BTreeMap<i64, i32> {
        &self.sessions
    }

    /// Ephemeral paths owned by `session`.
    pub fn ephemerals(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    /// Number of ephemeral nodes.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// Every (session, ephemeral paths) pair.
    pub fn all_ephemerals(&self) -> &HashMap<i64, BTreeSet<String>> {
        &self.ephemerals
    }

    /// Container nodes.
    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    /// TTL nodes.
    pub fn ttl_nodes(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// Number of descendants of `path`, all depths, the node excluded.
    pub fn descendant_count(&self, path: &str) -> usize {
        if path == "/" {
            return self.count - 1;
        }
        let Some(node) = self.get(path) else { return 0 };
        subtree(node).count() - 1
    }

    /// Every node with its path, parents before their children.
    pub fn iter(&self) -> Iter<'_> {
        Iter::new(&self.root)
    }

    /// Rebuilds a tree from a snapshot's parts, in any order: the children lists and every
    /// index are derived from the nodes. Fails if the root or a node's parent is missing.
    pub fn restore(
        last_zxid: i64,
        sessions: BTreeMap<i64, i32>,
        mut nodes: Vec<(String, Option<Bytes>, Vec<Acl>, StoredStat)>,
    ) -> Result<DataTree, String> {
        // Parents first: a stable sort by depth keeps a pre-order file's order.
        nodes.sort_by_key(|(path, ..)| {
            if path == "/" {
                0
            } else {
                path.matches('/').count()
            }
        });
        let mut acls = HashMap::new();
        let mut nodes = nodes.into_iter();
        let (root_path, data, acl, stat) = nodes.next().ok_or("snapshot has no root")?;
        if root_path != "/" {
            return Err("snapshot has no root".into());
        }
        let root = Node::new(data.as_deref(), intern_acl(&mut acls, acl), stat);
        let mut tree = DataTree::empty(SharedNode::new(root), 1, sessions, last_zxid);
        for (path, data, acl, stat) in nodes {
            let node = Node::new(data.as_deref(), intern_acl(&mut acls, acl), stat);
            let parent_path = parent(&path).ok_or_else(|| format!("bad path {path}"))?;
            let fresh = tree
                .update(parent_path, |p| {
                    p.put_child(basename(&path), SharedNode::new(node))
                })
                .ok_or_else(|| format!("{path} has no parent in the snapshot"))?;
            if !fresh {
                return Err(format!("{path} is in the snapshot twice"));
            }
            tree.count += 1;
        }
        tree.acls = acls;
        tree.index();
        Ok(tree)
    }

    /// Derives every index (ephemerals, containers, TTL nodes, data size, quota'd paths,
    /// the ACL cache, the digest) from the nodes.
    fn index(&mut self) {
        let mut limited = Vec::new();
        let mut digest = 0u64;
        for (&id, &timeout) in &self.sessions {
            digest = digest.wrapping_add(crate::digest::session(id, timeout));
        }
        let mut ephemerals: HashMap<i64, BTreeSet<String>> = HashMap::new();
        let (mut containers, mut ttls) = (BTreeSet::new(), BTreeSet::new());
        let mut data_size = 0;
        let mut acls = std::mem::take(&mut self.acls);
        for (path, node) in self.iter() {
            digest = digest.wrapping_add(crate::digest::node(&path, node));
            data_size += (path.len() + node.data.as_ref().map_or(0, |d| d.len())) as u64;
            acls.entry(node.acl.to_vec())
                .or_insert_with(|| node.acl.clone());
            // The quota'd paths are derived, as Apache's setupQuota does after a load.
            if basename(&path) == LIMIT_NODE {
                if let Some(q) = parent(&path).and_then(trim_quota_path) {
                    limited.push(q.to_owned());
                }
            }
            match node.kind() {
                NodeKind::Ephemeral(owner) => {
                    ephemerals.entry(owner).or_default().insert(path);
                }
                NodeKind::Container => {
                    containers.insert(path);
                }
                NodeKind::Ttl(_) => {
                    ttls.insert(path);
                }
                NodeKind::Persistent => {}
            }
        }
        self.ephemerals = ephemerals;
        self.containers = containers;
        self.ttls = ttls;
        self.data_size = data_size;
        self.acls = acls;
        for q in limited {
            self.quotas.add(&q);
        }
        self.digest = digest;
    }

    /// Applies one txn: its watch events and reply stats are appended to `out`.
    pub fn apply(
        &mut self,
        header: &TxnHeader,
        txn: &Txn,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let result = self.apply_inner(header, txn, out);
        self.last_zxid = self.last_zxid.max(header.zxid);
        result
    }

    fn apply_inner(
        &mut self,
        header: &TxnHeader,
        txn: &Txn,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let fail = |reason: String| ApplyError {
            zxid: header.zxid,
            reason,
        };
        match txn {
            Txn::CreateSession { timeout } => {
                if let Some(old) = self.sessions.insert(header.session_id, *timeout) {
                    self.digest = self
                        .digest
                        .wrapping_sub(crate::digest::session(header.session_id, old));
                }
                self.digest = self
                    .digest
                    .wrapping_add(crate::digest::session(header.session_id, *timeout));
            }
            Txn::CloseSession => {
                let paths: Vec<String> = self
                    .ephemerals
                    .remove(&header.session_id)
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default();
                for path in paths {
                    self.delete(header, &path, &mut out.events).map_err(fail)?;
                }
                if let Some(old) = self.sessions.remove(&header.session_id) {
                    self.digest = self
                        .digest
                        .wrapping_sub(crate::digest::session(header.session_id, old));
                }
            }
            Txn::Create {
                path,
                data,
                acl,
                ephemeral_owner,
                parent_cversion,
            } => {
                let parent_path = parent(path).ok_or_else(|| fail(format!("create of {path}")))?;
                if self.get(path).is_some() {
                    return Err(fail(format!("{path} exists")));
                }
                let acl = intern_acl(&mut self.acls, acl.clone());
                let stat = StoredStat {
                    czxid: header.zxid,
                    mzxid: header.zxid,
                    ctime: header.time,
                    mtime: header.time,
                    version: 0,
                    cversion: 0,
                    aversion: 0,
                    ephemeral_owner: *ephemeral_owner,
                    pzxid: header.zxid,
                };
                let node = Node::new(data.as_deref(), acl.clone(), stat);
                let reported = node.stat();
                let parent_acl = self
                    .insert_node(path, node, |parent_node| {
                        parent_node.stat.cversion = *parent_cversion;
                        parent_node.stat.pzxid = header.zxid;
                        parent_node.acl.clone()
                    })
                    .ok_or_else(|| fail(format!("no parent for {path}")))?;
                match NodeKind::of(*ephemeral_owner) {
                    NodeKind::Ephemeral(owner) => {
                        self.ephemerals
                            .entry(owner)
                            .or_default()
                            .insert(path.clone());
                    }
                    NodeKind::Container => {
                        self.containers.insert(path.clone());
                    }
                    NodeKind::Ttl(_) => {
                        self.ttls.insert(path.clone());
                    }
                    NodeKind::Persistent => {}
                }
                let data_len = data.as_ref().map_or(0, |d| d.len());
                self.data_size += (path.len() + data_len) as u64;
                out.stats.push(reported);
                out.events.push((EventType::NodeCreated, path.clone(), acl));
                out.events.push((
                    EventType::NodeChildrenChanged,
                    parent_path.to_owned(),
                    parent_acl,
                ));
                self.quota_on_create(path, data_len);
            }
            Txn::Delete { path } => {
                self.delete(header, path, &mut out.events).map_err(fail)?;
            }
            Txn::SetData {
                path,
                data,
                version,
            } => {
                let new = data.as_ref().map_or(0, |d| d.len()) as u64;
                let (old, stat, acl) = self
                    .update(path, |node| {
                        let old = node.data.as_ref().map_or(0, |d| d.len()) as u64;
                        node.data = data.as_deref().map(Data::new);
                        node.stat.mzxid = header.zxid;
                        node.stat.mtime = header.time;
                        node.stat.version = *version;
                        (old, node.stat(), node.acl.clone())
                    })
                    .ok_or_else(|| fail(format!("no node {path}")))?;
                out.stats.push(stat);
                self.data_size = self.data_size - old.min(self.data_size) + new;
                out.events
                    .push((EventType::NodeDataChanged, path.clone(), acl));
                if let Some(prefix) = self.quotas.max_prefix(path).map(str::to_owned) {
                    self.update_quota_stat(&prefix, new as i64 - old as i64, 0);
                }
            }
            Txn::SetAcl { path, acl, version } => {
                let acl = intern_acl(&mut self.acls, acl.clone());
                let stat = self
                    .update(path, |node| {
                        node.acl = acl;
                        node.stat.aversion = *version;
                        node.stat()
                    })
                    .ok_or_else(|| fail(format!("no node {path}")))?;
                out.stats.push(stat);
            }
            Txn::Check { .. } | Txn::Error { .. } => {}
            Txn::Multi(txns) => {
                for t in txns {
                    self.apply_inner(header, t, out)?;
                }
            }
        }
        Ok(())
    }

    fn delete(
        &mut self,
        header: &TxnHeader,
        path: &str,
        events: &mut Vec<NodeEvent>,
    ) -> Result<(), String> {
        let parent_path = parent(path).ok_or_else(|| format!("delete of {path}"))?;
        let (node, parent_acl) = self
            .remove_node(path, |p| {
                if header.zxid > p.stat.pzxid {
                    p.stat.pzxid = header.zxid;
                }
                p.acl.clone()
            })
            .ok_or_else(|| format!("no node {path}"))?;
        match node.kind() {
            NodeKind::Ephemeral(owner) => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Persistent => {}
        }
        let data_len = node.data.as_ref().map_or(0, |d| d.len());
        let size = (path.len() + data_len) as u64;
        self.data_size = self.data_size.saturating_sub(size);
        if basename(path) == LIMIT_NODE {
            if let Some(q) = trim_quota_path(parent_path) {
                self.quotas.remove(q);
            }
        }
        if let Some(prefix) = self.quotas.max_prefix(path).map(str::to_owned) {
            self.update_quota_stat(&prefix, -(data_len as i64), -1);
        }
        events.push((EventType::NodeDeleted, path.to_owned(), node.acl.clone()));
        events.push((
            EventType::NodeChildrenChanged,
            parent_path.to_owned(),
            parent_acl,
        ));
        Ok(())
    }
}

impl DataTree {
    /// Quota bookkeeping after `path` was created (Apache's `createNode`): a limits node
    /// makes its path quota'd, a stats node is filled with the subtree's counts, and the
    /// new node counts towards the quota above it.
    fn quota_on_create(&mut self, path: &str, data_len: usize) {
        if let Some(q) = parent(path).and_then(trim_quota_path).map(str::to_owned) {
            match basename(path) {
                LIMIT_NODE => self.quotas.add(&q),
                STAT_NODE => self.update_quota_for_path(&q),
                _ => {}
            }
        }
        if let Some(prefix) = self.quotas.max_prefix(path).map(str::to_owned) {
            self.update_quota_stat(&prefix, data_len as i64, 1);
        }
    }

    /// Recounts the subtree of quota'd path `q` into its stats node.
    fn update_quota_for_path(&mut self, q: &str) {
        let (count, bytes) = self.get(q).map_or((0, 0), |node| {
            subtree(node).fold((0i64, 0i64), |(count, bytes), n| {
                (
                    count + 1,
                    bytes + n.data.as_ref().map_or(0, |d| d.len()) as i64,
                )
            })
        });
        self.set_quota_stats(q, StatsTrack::new(count, bytes));
    }

    /// Adds to the counts in the stats node of quota'd path `q`.
    fn update_quota_stat(&mut self, q: &str, bytes: i64, count: i64) {
        let Some(node) = self.get(&stat_path(q)) else {
            tracing::warn!(path = %q, "quota without a stats node");
            return;
        };
        let mut track = StatsTrack::parse(node.data().unwrap_or_default());
        track.add(count, bytes);
        self.set_quota_stats(q, track);
    }

    /// Writes a stats node's data in place: no version, zxid or watch changes, as Apache.
    fn set_quota_stats(&mut self, q: &str, track: StatsTrack) {
        let data = Data::new(&track.to_bytes());
        let new = data.len() as u64;
        let Some(old) = self.update(&stat_path(q), |node| {
            let old = node.data.as_ref().map_or(0, |d| d.len()) as u64;
            node.data = Some(data);
            old
        }) else {
            return;
        };
        self.data_size = self.data_size - old.min(self.data_size) + new;
    }
}

/// The shared copy of `acl` from `acls`, added if new: nodes with equal ACLs share one.
fn intern_acl(acls: &mut HashMap<Vec<Acl>, Arc<Vec<Acl>>>, acl: Vec<Acl>) -> Arc<Vec<Acl>> {
    if let Some(a) = acls.get(&acl) {
        return a.clone();
    }
    let shared = Arc::new(acl.clone());
    acls.insert(acl, shared.clone());
    shared
}

/// `node` and every node below it, without their paths.
fn subtree(node: &Node) -> impl Iterator<Item = &Node> {
    let mut stack = vec![node];
    std::iter::from_fn(move || {
        let node = stack.pop()?;
        stack.extend(node.child_nodes().map(|(_, child)| child));
        Some(node)
    })
}

/// `parent + "/" + name`, without a double slash under the root.
pub fn child_path(parent: &str, name: &str) -> String {
    let mut s = String::with_capacity(parent.len() + name.len() + 1);
    s.push_str(parent);
    if parent != "/" {
        s.push('/');
    }
    s.push_str(name);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(zxid: i64) -> TxnHeader {
        TxnHeader {
            session_id: 1,
            cxid: 1,
            zxid,
            time: 1000 + zxid,
        }
    }

    fn create(path: &str, owner: i64, parent_cversion: i32) -> Txn {
        Txn::Create {
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: Acl::open_unsafe(),
            ephemeral_owner: owner,
            parent_cversion,
        }
    }

    #[test]
    fn fresh_tree_matches_apache_system_nodes() {
        let t = DataTree::new();
        let root = t.get("/").unwrap().stat();
        assert_eq!((root.cversion, root.num_children), (-1, 1));
        assert_eq!(t.get("/zookeeper/config").unwrap().stat().aversion, -1);
        assert_eq!(t.node_count(), 5);
        assert_eq!(t.descendant_count("/"), 3);
        assert!(t.get("").is_some());
    }

    #[test]
    fn create_and_delete_maintain_stats_and_events() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        t.apply(&header(2), &create("/a", 0, 1), &mut ev).unwrap();
        t.apply(&header(3), &create("/a/b", 7, 1), &mut ev).unwrap();
        let a = t.get("/a").unwrap().stat();
        assert_eq!((a.cversion, a.num_children, a.pzxid), (1, 1, 3));
        assert_eq!(t.get("/a/b").unwrap().stat().ephemeral_owner, 7);
        t.apply(
            &header(4),
            &Txn::Delete {
                path: "/a/b".into(),
            },
            &mut ev,
        )
        .unwrap();
        let a = t.get("/a").unwrap().stat();
        // Reported cversion counts creates and deletes.
        assert_eq!((a.cversion, a.num_children, a.pzxid), (2, 0, 4));
        assert_eq!(t.ephemeral_count(), 0);
        use EventType::*;
        let kinds: Vec<_> = ev.events.iter().map(|(k, p, _)| (*k, p.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                (NodeCreated, "/a"),
                (NodeChildrenChanged, "/"),
                (NodeCreated, "/a/b"),
                (NodeChildrenChanged, "/a"),
                (NodeDeleted, "/a/b"),
                (NodeChildrenChanged, "/a"),
            ]
        );
    }

    #[test]
    fn close_session_removes_its_ephemerals_in_one_txn() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        let mut h = header(2);
        h.session_id = 9;
        t.apply(&h, &Txn::CreateSession { timeout: 4000 }, &mut ev)
            .unwrap();
        t.apply(&header(3), &create("/e1", 9, 1), &mut ev).unwrap();
        t.apply(&header(4), &create("/e2", 9, 2), &mut ev).unwrap();
        let mut close = header(5);
        close.session_id = 9;
        ev.clear();
        t.apply(&close, &Txn::CloseSession, &mut ev).unwrap();
        assert!(t.get("/e1").is_none() && t.get("/e2").is_none());
        assert!(t.sessions().is_empty());
        assert_eq!(ev.events.len(), 4);
        assert_eq!(t.get("/").unwrap().stat.pzxid, 5);
    }

    #[test]
    fn container_and_ttl_owners_are_reported_as_zero() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        t.apply(&header(2), &create("/c", CONTAINER_OWNER, 1), &mut ev)
            .unwrap();
        t.apply(&header(3), &create("/t", ttl_owner(500), 2), &mut ev)
            .unwrap();
        assert_eq!(t.get("/c").unwrap().stat().ephemeral_owner, 0);
        assert_eq!(t.get("/t").unwrap().kind(), NodeKind::Ttl(500));
        assert_eq!(t.containers().len(), 1);
        assert_eq!(t.ttl_nodes().len(), 1);
    }

    #[test]
    fn quota_stats_follow_the_subtree_and_survive_a_restore() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        let mut zxid = 0;
        let mut apply = |t: &mut DataTree, txn: Txn| {
            zxid += 1;
            t.apply(&header(zxid), &txn, &mut ev).unwrap();
        };
        // What zkCli's `setquota -n 3 /q` writes, after /q with one byte of data.
        for (path, data) in [
            ("/q", "x"),
            ("/zookeeper/quota/q", ""),
            ("/zookeeper/quota/q/zookeeper_limits", "count=3,bytes=-1"),
            ("/zookeeper/quota/q/zookeeper_stats", "count=0,bytes=0"),
        ] {
            apply(
                &mut t,
                Txn::Create {
                    path: path.into(),
                    data: Some(Bytes::from(data.to_owned())),
                    acl: Acl::open_unsafe(),
                    ephemeral_owner: 0,
                    parent_cversion: 1,
                },
            );
        }
        let stats = |t: &DataTree| {
            let n = t.get("/zookeeper/quota/q/zookeeper_stats").unwrap();
            let data = String::from_utf8(n.data().unwrap().to_vec()).unwrap();
            (data, n.stat.version, n.stat.mzxid)
        };
        assert_eq!(stats(&t).0, "count=1,bytes=1");
        apply(&mut t, create("/q/a", 0, 1));
        apply(
            &mut t,
            Txn::SetData {
                path: "/q/a".into(),
                data: Some(Bytes::from_static(b"12345")),
                version: 1,
            },
        );
        let (data, version, mzxid) = stats(&t);
        assert_eq!(data, "count=2,bytes=6");
        assert_eq!((version, mzxid), (0, 4), "updated in place, as Apache does");
        // After a restart from a snapshot, the quota is still tracked.
        let nodes = t
            .iter()
            .map(|(p, n)| {
                (
                    p,
                    n.data().map(Bytes::copy_from_slice),
                    n.acl.to_vec(),
                    n.stat,
                )
            })
            .collect();
        let mut restored = DataTree::restore(t.last_zxid(), BTreeMap::new(), nodes).unwrap();
        apply(
            &mut restored,
            Txn::Delete {
                path: "/q/a".into(),
            },
        );
        assert_eq!(stats(&restored).0, "count=1,bytes=1");
    }

    #[test]
    fn the_digest_follows_every_change_and_matches_a_rebuilt_tree() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        let fresh = t.digest();
        let mut h = header(2);
        h.session_id = 9;
        t.apply(&h, &Txn::CreateSession { timeout: 4000 }, &mut ev)
            .unwrap();
        t.apply(&header(3), &create("/a", 9, 1), &mut ev).unwrap();
        let with_a = t.digest();
        assert_ne!(with_a, fresh);
        t.apply(
            &header(4),
            &Txn::SetData {
                path: "/a".into(),
                data: None,
                version: 1,
            },
            &mut ev,
        )
        .unwrap();
        assert_ne!(t.digest(), with_a);
        // Rebuilding from the nodes gives the same digest.
        let rebuilt = DataTree::from_snapshot(t.snapshot());
        assert_eq!(rebuilt.digest(), t.digest());
        let mut close = header(5);
        close.session_id = 9;
        t.apply(&close, &Txn::CloseSession, &mut ev).unwrap();
        // Back to the system nodes, with the root's child-change stats moved on.
        let mut twin = DataTree::new();
        twin.apply(&h, &Txn::CreateSession { timeout: 4000 }, &mut ev)
            .unwrap();
        assert_ne!(twin.digest(), t.digest());
    }

    #[test]
    fn a_frozen_copy_keeps_its_state_while_the_tree_changes() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        t.apply(&header(2), &create("/a", 0, 1), &mut ev).unwrap();
        t.apply(&header(3), &create("/a/b", 0, 1), &mut ev).unwrap();
        let frozen = t.snapshot();
        let digest = t.digest();
        let set = Txn::SetData {
            path: "/a/b".into(),
            data: Some(Bytes::from_static(b"new")),
            version: 1,
        };
        t.apply(&header(4), &set, &mut ev).unwrap();
        t.apply(&header(5), &create("/a/c", 0, 2), &mut ev).unwrap();
        let delete = Txn::Delete {
            path: "/a/b".into(),
        };
        t.apply(&header(6), &delete, &mut ev).unwrap();
        let back = DataTree::from_snapshot(frozen);
        assert_eq!(back.get("/a/b").and_then(Node::data), Some(&b"d"[..]));
        assert!(back.get("/a/c").is_none());
        assert_eq!(back.get("/a").unwrap().stat().num_children, 1);
        assert_eq!((back.digest(), back.last_zxid()), (digest, 3));
        assert!(t.get("/a/b").is_none());
        assert_eq!(t.get("/a").unwrap().children().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn paths_thousands_of_levels_deep_work_like_any_other() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        let mut path = String::new();
        for zxid in 2..3002 {
            path.push_str("/d");
            t.apply(&header(zxid), &create(&path, 0, 1), &mut ev)
                .unwrap();
        }
        assert_eq!(t.get(&path).unwrap().stat().czxid, 3001);
        assert_eq!(t.descendant_count("/d"), 2999);
        // Restored from its nodes in any order, it is the same tree.
        let mut nodes: Vec<_> = t
            .iter()
            .map(|(p, n)| {
                (
                    p,
                    n.data().map(Bytes::copy_from_slice),
                    n.acl.to_vec(),
                    n.stat,
                )
            })
            .collect();
        nodes.reverse();
        let restored = DataTree::restore(t.last_zxid(), BTreeMap::new(), nodes).unwrap();
        assert_eq!(restored.digest(), t.digest());
        assert_eq!(restored.node_count(), t.node_count());
        while path != "/d" {
            let delete = Txn::Delete { path: path.clone() };
            t.apply(&header(t.last_zxid() + 1), &delete, &mut ev)
                .unwrap();
            path.truncate(path.len() - 2);
        }
        assert_eq!(t.get("/d").unwrap().stat().num_children, 0);
    }

    #[test]
    fn a_restore_refuses_orphans_and_duplicates() {
        let node = |p: &str| {
            (
                p.to_owned(),
                None,
                Acl::open_unsafe(),
                StoredStat::default(),
            )
        };
        let restore = |nodes| DataTree::restore(1, BTreeMap::new(), nodes);
        assert!(restore(vec![node("/"), node("/a"), node("/a/b")]).is_ok());
        assert!(restore(vec![node("/a")]).is_err(), "no root");
        assert!(restore(vec![node("/"), node("/a/b")]).is_err(), "orphan");
        assert!(
            restore(vec![node("/"), node("/a"), node("/a")]).is_err(),
            "twice"
        );
    }

    #[test]
    fn contradictory_txn_is_an_error_not_a_panic() {
        let mut t = DataTree::new();
        let mut ev = Applied::default();
        assert!(t.apply(&header(2), &create("/x/y", 0, 1), &mut ev).is_err());
        assert!(t
            .apply(
                &header(3),
                &Txn::Delete {
                    path: "/nope".into()
                },
                &mut ev
            )
            .is_err());
    }
}
