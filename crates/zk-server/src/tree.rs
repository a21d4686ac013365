//! The data tree: every znode with its data, ACL and stored Stat, plus the indexes the
//! server needs (ephemerals by session, containers, TTL nodes, live sessions).
//!
//! Owns applying transactions ([`DataTree::apply`]) and reading nodes. It must not decide
//! anything: whether a change is allowed, which zxid or time it gets, which sequence number
//! a node receives — all of that was fixed when the txn was made ([`crate::prep`]). The
//! same `apply` serves the live path, log replay and snapshot recovery, so it is
//! deterministic and touches no clock.
//!
//! # Copy-on-write
//! The nodes live in a persistent hash map (`imbl`) of shared nodes, so
//! [`DataTree::snapshot`] is O(1): it freezes the tree as of its last zxid, and the frozen
//! copy can be written to disk or streamed to a follower on another thread while the
//! live tree keeps changing. A change made while a frozen copy is alive copies the few
//! map chunks and the one node it touches; with no copy alive, changes are in place.
//! `imbl` is a dependency for this: a maintained persistent-collections crate; with
//! shared (`Arc`) entries its map is no larger than `std`'s (458 vs 497 bytes per
//! 100-byte znode, measured).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use zk_proto::path::{basename, parent};
use zk_proto::{Acl, EventType, Stat};

use crate::quota::{stat_path, trim_quota_path, QuotaPaths, StatsTrack, LIMIT_NODE, STAT_NODE};
use crate::txn::{Txn, TxnHeader};

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

/// One znode.
#[derive(Debug, Clone)]
pub struct Node {
    /// The data; `None` is a null buffer.
    pub data: Option<Bytes>,
    /// The ACL, shared between nodes with equal ACLs.
    pub acl: Arc<Vec<Acl>>,
    /// Stored metadata.
    pub stat: StoredStat,
    /// Child names, sorted.
    pub children: BTreeSet<Box<str>>,
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

impl Node {
    /// The Stat as clients see it (see [`StoredStat::reported`]).
    pub fn stat(&self) -> Stat {
        self.stat.reported(
            self.children.len() as i32,
            self.data.as_ref().map_or(0, |d| d.len() as i32),
        )
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        NodeKind::of(self.stat.ephemeral_owner)
    }
}

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

/// The node map: path to node, both shared so that cloning the map is O(1).
type Nodes = imbl::HashMap<Arc<str>, Arc<Node>>;

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

/// The tree frozen at one zxid ([`DataTree::snapshot`]): what a snapshot file or a SNAP
/// sync holds. Cheap to clone and to send to another thread.
#[derive(Debug, Clone)]
pub struct TreeSnapshot {
    nodes: Nodes,
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

    /// Every node (the map's order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (&**p, &**n))
    }

    /// Number of nodes (without Apache's root alias).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the copy has no node (never true of a real tree, which has a root).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// All znodes and their indexes.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: Nodes,
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
        let mut tree = DataTree {
            nodes: Nodes::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            acls: HashMap::new(),
            last_zxid: 0,
            data_size: 0,
            quotas: QuotaPaths::default(),
            digest: 0,
        };
        let open = tree.intern_acl(Acl::open_unsafe());
        let read = tree.intern_acl(Acl::read_unsafe());
        for path in SYSTEM_PATHS {
            let mut stat = StoredStat::default();
            let acl = if path == "/zookeeper/config" {
                stat.aversion = -1;
                read.clone()
            } else {
                open.clone()
            };
            tree.insert_node(
                path,
                Node {
                    data: Some(Bytes::new()),
                    acl,
                    stat,
                    children: BTreeSet::new(),
                },
            );
            if let Some(p) = parent(path) {
                tree.update(p, |parent| {
                    parent.children.insert(basename(path).into());
                });
            }
        }
        tree
    }

    fn intern_acl(&mut self, acl: Vec<Acl>) -> Arc<Vec<Acl>> {
        if let Some(a) = self.acls.get(&acl) {
            return a.clone();
        }
        let shared = Arc::new(acl.clone());
        self.acls.insert(acl, shared.clone());
        shared
    }

    /// The node at `path` (`""` is an alias of the root, as in Apache).
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes
            .get(if path.is_empty() { "/" } else { path })
            .map(|n| &**n)
    }

    /// Changes the node at `path` (unshared from any frozen copy first), keeping the
    /// digest.
    fn update<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let node = self.nodes.get_mut(path).map(Arc::make_mut)?;
        let before = crate::digest::node(path, node);
        let result = f(node);
        let after = crate::digest::node(path, node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        Some(result)
    }

    fn insert_node(&mut self, path: &str, node: Node) {
        self.digest = self.digest.wrapping_add(crate::digest::node(path, &node));
        self.nodes.insert(Arc::from(path), Arc::new(node));
    }

    fn remove_node(&mut self, path: &str) -> Option<Arc<Node>> {
        let node = self.nodes.remove(path)?;
        self.digest = self.digest.wrapping_sub(crate::digest::node(path, &node));
        Some(node)
    }

    /// The fingerprint of every node and session (see [`crate::digest`]): equal trees have
    /// equal digests.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The tree frozen as of now, in O(1) (see the module docs).
    pub fn snapshot(&self) -> TreeSnapshot {
        TreeSnapshot {
            nodes: self.nodes.clone(),
            sessions: self.sessions.clone(),
            last_zxid: self.last_zxid,
        }
    }

    /// The live tree a frozen copy describes, its indexes rebuilt.
    pub fn from_snapshot(snapshot: TreeSnapshot) -> Result<DataTree, String> {
        let mut tree = DataTree {
            nodes: snapshot.nodes,
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: snapshot.sessions,
            acls: HashMap::new(),
            last_zxid: snapshot.last_zxid,
            data_size: 0,
            quotas: QuotaPaths::default(),
            digest: 0,
        };
        tree.index()?;
        Ok(tree)
    }

    /// The zxid of the last applied txn.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Number of nodes as Apache counts them (its `""` root alias included).
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
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
            return self.nodes.len() - 1;
        }
        let Some(node) = self.get(path) else { return 0 };
        let mut count = 0;
        let mut stack: Vec<String> = node.children.iter().map(|c| child_path(path, c)).collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = self.nodes.get(p.as_str()) {
                stack.extend(n.children.iter().map(|c| child_path(&p, c)));
            }
        }
        count
    }

    /// Every node (the map's order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (&**p, &**n))
    }

    /// Rebuilds a tree from a snapshot's parts: the children lists and every index are
    /// derived from the nodes. Fails if a node's parent is missing.
    pub fn restore(
        last_zxid: i64,
        sessions: BTreeMap<i64, i32>,
        nodes: Vec<(String, Option<Bytes>, Vec<Acl>, StoredStat)>,
    ) -> Result<DataTree, String> {
        let mut acls: HashMap<Vec<Acl>, Arc<Vec<Acl>>> = HashMap::new();
        let mut map = Nodes::new();
        for (path, data, acl, stat) in nodes {
            let acl = acls
                .entry(acl)
                .or_insert_with_key(|acl| Arc::new(acl.clone()))
                .clone();
            let node = Node {
                data,
                acl,
                stat,
                children: BTreeSet::new(),
            };
            map.insert(Arc::from(path), Arc::new(node));
        }
        let paths: Vec<Arc<str>> = map.keys().filter(|p| &***p != "/").cloned().collect();
        for path in paths {
            let parent_path = parent(&path).ok_or_else(|| format!("bad path {path}"))?;
            let parent_node = map
                .get_mut(parent_path)
                .ok_or_else(|| format!("{path} has no parent in the snapshot"))?;
            Arc::make_mut(parent_node)
                .children
                .insert(basename(&path).into());
        }
        let mut tree = DataTree::from_snapshot(TreeSnapshot {
            nodes: map,
            sessions,
            last_zxid,
        })?;
        tree.acls = acls;
        Ok(tree)
    }

    /// Derives every index (ephemerals, containers, TTL nodes, data size, quota'd paths,
    /// the ACL cache) from the nodes.
    fn index(&mut self) -> Result<(), String> {
        if !self.nodes.contains_key("/") {
            return Err("snapshot has no root".into());
        }
        let mut limited = Vec::new();
        let mut digest = 0u64;
        for (&id, &timeout) in &self.sessions {
            digest = digest.wrapping_add(crate::digest::session(id, timeout));
        }
        for (path, node) in self.nodes.iter() {
            digest = digest.wrapping_add(crate::digest::node(path, node));
            match NodeKind::of(node.stat.ephemeral_owner) {
                NodeKind::Ephemeral(owner) => {
                    self.ephemerals
                        .entry(owner)
                        .or_default()
                        .insert(path.to_string());
                }
                NodeKind::Container => {
                    self.containers.insert(path.to_string());
                }
                NodeKind::Ttl(_) => {
                    self.ttls.insert(path.to_string());
                }
                NodeKind::Persistent => {}
            }
            self.data_size += (path.len() + node.data.as_ref().map_or(0, |d| d.len())) as u64;
            self.acls
                .entry(node.acl.to_vec())
                .or_insert_with(|| node.acl.clone());
            // The quota'd paths are derived, as Apache's setupQuota does after a load.
            if basename(path) == LIMIT_NODE {
                if let Some(q) = parent(path).and_then(trim_quota_path) {
                    limited.push(q.to_owned());
                }
            }
        }
        for q in limited {
            self.quotas.add(&q);
        }
        self.digest = digest;
        Ok(())
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
                if self.nodes.contains_key(path.as_str()) {
                    return Err(fail(format!("{path} exists")));
                }
                let acl = self.intern_acl(acl.clone());
                let parent_acl = self
                    .update(parent_path, |parent_node| {
                        parent_node.children.insert(basename(path).into());
                        parent_node.stat.cversion = *parent_cversion;
                        parent_node.stat.pzxid = header.zxid;
                        parent_node.acl.clone()
                    })
                    .ok_or_else(|| fail(format!("no parent for {path}")))?;
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
                let node = Node {
                    data: data.clone(),
                    acl: acl.clone(),
                    stat,
                    children: BTreeSet::new(),
                };
                out.stats.push(node.stat());
                self.insert_node(path, node);
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
                        node.data = data.clone();
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
                let acl = self.intern_acl(acl.clone());
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
        let node = self
            .remove_node(path)
            .ok_or_else(|| format!("no node {path}"))?;
        let parent_path = parent(path).ok_or_else(|| format!("delete of {path}"))?;
        let parent_acl = self
            .update(parent_path, |p| {
                p.children.remove(basename(path));
                if header.zxid > p.stat.pzxid {
                    p.stat.pzxid = header.zxid;
                }
                p.acl.clone()
            })
            .unwrap_or_else(|| node.acl.clone());
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
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![q.to_owned()];
        while let Some(p) = stack.pop() {
            let Some(node) = self.nodes.get(p.as_str()) else {
                continue;
            };
            count += 1;
            bytes += node.data.as_ref().map_or(0, |d| d.len()) as i64;
            stack.extend(node.children.iter().map(|c| child_path(&p, c)));
        }
        self.set_quota_stats(q, StatsTrack::new(count, bytes));
    }

    /// Adds to the counts in the stats node of quota'd path `q`.
    fn update_quota_stat(&mut self, q: &str, bytes: i64, count: i64) {
        let Some(node) = self.nodes.get(stat_path(q).as_str()) else {
            tracing::warn!(path = %q, "quota without a stats node");
            return;
        };
        let mut track = StatsTrack::parse(node.data.as_deref().unwrap_or_default());
        track.add(count, bytes);
        self.set_quota_stats(q, track);
    }

    /// Writes a stats node's data in place: no version, zxid or watch changes, as Apache.
    fn set_quota_stats(&mut self, q: &str, track: StatsTrack) {
        let data = Bytes::from(track.to_bytes());
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
            (n.data.clone().unwrap(), n.stat.version, n.stat.mzxid)
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
            .map(|(p, n)| (p.to_owned(), n.data.clone(), n.acl.to_vec(), n.stat))
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
        let rebuilt = DataTree::from_snapshot(t.snapshot()).unwrap();
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
