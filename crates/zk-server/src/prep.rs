//! Turning write requests into transactions, as Apache's `PrepRequestProcessor`: every
//! check in Apache's order (so the same bad request gets the same error code), and every
//! choice fixed in the txn (zxid, time, sequence suffix, owner, versions).
//!
//! Owns validation of create/delete/setData/setACL/check and multi. Reads the tree through
//! a [`View`] that also sees changes staged earlier in the same multi; never changes the
//! tree itself.

use std::collections::HashMap;
use std::sync::Arc;

use zk_proto::multi::{MultiOp, MultiResult};
use zk_proto::ops::{
    CheckVersionRequest, CreateRequest, DeleteRequest, SetAclRequest, SetDataRequest,
};
use zk_proto::path::validate_path;
use zk_proto::{perms, Acl, CreateMode, ErrorCode, Id, OpCode, Stat};

use crate::acl;
use crate::outstanding::Outstanding;
use crate::tree::{ttl_owner, DataTree, NodeKind, StoredStat, CONTAINER_OWNER, SYSTEM_PATHS};
use crate::txn::Txn;

/// Largest TTL (40 bits of ms).
pub const MAX_TTL: i64 = 0xFF_FFFF_FFFF;

/// A node as prep sees it.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Stored stat.
    pub stat: StoredStat,
    /// ACL.
    pub acl: Arc<Vec<Acl>>,
    /// Number of children.
    pub num_children: i32,
    /// Data length.
    pub data_len: i32,
}

impl Rec {
    /// The Stat clients see.
    pub fn reported(&self) -> Stat {
        self.stat.reported(self.num_children, self.data_len)
    }
}

/// The tree, plus the changes prepared before this request and not yet committed, plus
/// those staged by earlier ops of the same multi.
pub struct View<'a> {
    tree: &'a DataTree,
    outstanding: &'a Outstanding,
    staged: HashMap<String, Option<Rec>>,
}

fn normalize(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

impl<'a> View<'a> {
    /// A view of `tree` and the `outstanding` changes, with nothing staged.
    pub fn new(tree: &'a DataTree, outstanding: &'a Outstanding) -> Self {
        Self {
            tree,
            outstanding,
            staged: HashMap::new(),
        }
    }

    /// What this view staged: the changes the prepared txn will make.
    pub fn into_staged(self) -> HashMap<String, Option<Rec>> {
        self.staged
    }

    /// Drops what was staged (a multi that failed changes nothing).
    pub fn discard_staged(&mut self) {
        self.staged.clear();
    }

    /// The node at `path` as of the staged and outstanding changes.
    pub fn get(&self, path: &str) -> Option<Rec> {
        let path = normalize(path);
        if let Some(staged) = self.staged.get(path) {
            return staged.clone();
        }
        if let Some(outstanding) = self.outstanding.get(path) {
            return outstanding.clone();
        }
        self.tree.get(path).map(|n| Rec {
            stat: n.stat,
            acl: n.acl.clone(),
            num_children: n.num_children() as i32,
            data_len: n.data.as_ref().map_or(0, |d| d.len() as i32),
        })
    }

    fn put(&mut self, path: &str, rec: Option<Rec>) {
        self.staged.insert(normalize(path).to_owned(), rec);
    }
}

/// Who is asking and which zxid and time the txn gets.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Requesting session.
    pub session_id: i64,
    /// The connection's authenticated ids.
    pub ids: &'a [Id],
    /// The txn's zxid.
    pub zxid: i64,
    /// The txn's time (ms).
    pub time: i64,
    /// Whether TTL nodes are enabled (`zookeeper.extendedTypesEnabled`).
    pub extended_types: bool,
    /// Whether `x509` ACLs are accepted.
    pub x509_acls: bool,
    /// Whether `sasl` ACLs are accepted.
    pub sasl_acls: bool,
}

/// What a successful write reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Created: the final path and the new node's Stat.
    Create(String, Stat),
    /// Deleted.
    Delete,
    /// Data set: the new Stat.
    SetData(Stat),
    /// ACL set: the new Stat.
    SetAcl(Stat),
    /// Check passed.
    Check,
}

type Prepped = Result<(Txn, Done), ErrorCode>;

fn check_perm(rec: &Rec, ctx: &Ctx, perm: i32) -> Result<(), ErrorCode> {
    if acl::check(&rec.acl, ctx.ids, perm) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn valid_path(path: &str) -> Result<(), ErrorCode> {
    validate_path(path, false).map_err(|_| ErrorCode::BadArguments)
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// Apache's `lastIndexOf('/')` parent, where `"/a"` has parent `""` (the root alias).
fn raw_parent(path: &str) -> Result<&str, ErrorCode> {
    match path.rfind('/') {
        Some(i) if !path.contains('\0') => Ok(&path[..i]),
        _ => Err(ErrorCode::BadArguments),
    }
}

/// create (1), create2 (15), createContainer (19), createTTL (21).
pub fn create(
    view: &mut View,
    ctx: &Ctx,
    opcode: OpCode,
    req: &CreateRequest,
    ttl: Option<i64>,
) -> Prepped {
    let mode = CreateMode::from_flags(req.flags).map_err(|_| ErrorCode::BadArguments)?;
    if mode.is_ttl() && !ctx.extended_types {
        return Err(ErrorCode::Unimplemented);
    }
    match (opcode, ttl) {
        (OpCode::CreateTtl, Some(ttl)) if !mode.is_ttl() || ttl <= 0 || ttl > MAX_TTL => {
            return Err(ErrorCode::BadArguments)
        }
        (OpCode::CreateTtl, Some(_)) => {}
        // A TTL mode needs createTTL.
        _ if mode.is_ttl() => return Err(ErrorCode::BadArguments),
        _ => {}
    }
    let parent_path = raw_parent(&req.path)?;
    let acl = acl::fixup(&req.acl, ctx.ids, ctx.x509_acls, ctx.sasl_acls)?;
    let parent = view.get(parent_path).ok_or(ErrorCode::NoNode)?;
    check_perm(&parent, ctx, perms::CREATE)?;
    let parent_cversion = parent.stat.cversion;
    let path = if mode.is_sequential() {
        format!("{}{:010}", req.path, parent_cversion)
    } else {
        req.path.clone()
    };
    valid_path(&path)?;
    if view.get(&path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(
        NodeKind::of(parent.stat.ephemeral_owner),
        NodeKind::Ephemeral(_)
    ) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    // The opcode decides what kind of node a top-level create makes, as in Apache 3.8:
    // createContainer makes a container whatever the flags (sequential still applies),
    // and the container flag on create/create2 makes a plain persistent node.
    let container = opcode == OpCode::CreateContainer;
    let owner = if mode.is_ephemeral() && !container {
        ctx.session_id
    } else if container {
        CONTAINER_OWNER
    } else if let (true, Some(ttl)) = (mode.is_ttl(), ttl) {
        ttl_owner(ttl)
    } else {
        0
    };
    let new_cversion = parent_cversion.wrapping_add(1);
    let data_len = req.data.as_ref().map_or(0, |d| d.len() as i32);
    let rec = Rec {
        stat: StoredStat {
            czxid: ctx.zxid,
            mzxid: ctx.zxid,
            ctime: ctx.time,
            mtime: ctx.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: ctx.zxid,
        },
        acl: Arc::new(acl.clone()),
        num_children: 0,
        data_len,
    };
    let stat = rec.reported();
    let mut parent = parent;
    parent.stat.cversion = new_cversion;
    parent.stat.pzxid = ctx.zxid;
    parent.num_children += 1;
    view.put(parent_path, Some(parent));
    view.put(&path, Some(rec));
    let txn = Txn::Create {
        path: path.clone(),
        data: req.data.clone(),
        acl,
        ephemeral_owner: owner,
        parent_cversion: new_cversion,
    };
    Ok((txn, Done::Create(path, stat)))
}

/// delete (2).
pub fn delete(view: &mut View, ctx: &Ctx, req: &DeleteRequest) -> Prepped {
    let parent_path = raw_parent(&req.path)?;
    if SYSTEM_PATHS.contains(&req.path.as_str()) {
        return Err(ErrorCode::BadArguments);
    }
    let parent = view.get(parent_path).ok_or(ErrorCode::NoNode)?;
    check_perm(&parent, ctx, perms::DELETE)?;
    let node = view.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_version(node.stat.version, req.version)?;
    if node.num_children > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    let mut parent = parent;
    parent.num_children -= 1;
    if ctx.zxid > parent.stat.pzxid {
        parent.stat.pzxid = ctx.zxid;
    }
    view.put(parent_path, Some(parent));
    view.put(&req.path, None);
    Ok((
        Txn::Delete {
            path: req.path.clone(),
        },
        Done::Delete,
    ))
}

/// The server's own delete of an empty container or expired TTL node: no ACL or
/// version applies, but the node must still exist without children.
pub fn delete_as_server(view: &mut View, zxid: i64, path: &str) -> Option<Txn> {
    let node = view.get(path)?;
    if node.num_children > 0 {
        return None;
    }
    let parent_path = raw_parent(path).ok()?;
    let mut parent = view.get(parent_path)?;
    parent.num_children -= 1;
    if zxid > parent.stat.pzxid {
        parent.stat.pzxid = zxid;
    }
    view.put(parent_path, Some(parent));
    view.put(path, None);
    Some(Txn::Delete {
        path: path.to_owned(),
    })
}

/// setData (5).
pub fn set_data(view: &mut View, ctx: &Ctx, req: &SetDataRequest) -> Prepped {
    valid_path(&req.path)?;
    let mut node = view.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_perm(&node, ctx, perms::WRITE)?;
    let version = check_version(node.stat.version, req.version)?;
    node.stat.version = version;
    node.stat.mzxid = ctx.zxid;
    node.stat.mtime = ctx.time;
    node.data_len = req.data.as_ref().map_or(0, |d| d.len() as i32);
    let stat = node.reported();
    view.put(&req.path, Some(node));
    let txn = Txn::SetData {
        path: req.path.clone(),
        data: req.data.clone(),
        version,
    };
    Ok((txn, Done::SetData(stat)))
}

/// setACL (7): the version is compared with aversion.
pub fn set_acl(view: &mut View, ctx: &Ctx, req: &SetAclRequest) -> Prepped {
    valid_path(&req.path)?;
    let acl = acl::fixup(&req.acl, ctx.ids, ctx.x509_acls, ctx.sasl_acls)?;
    let mut node = view.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_perm(&node, ctx, perms::ADMIN)?;
    let version = check_version(node.stat.aversion, req.version)?;
    node.stat.aversion = version;
    node.acl = Arc::new(acl.clone());
    let stat = node.reported();
    view.put(&req.path, Some(node));
    let txn = Txn::SetAcl {
        path: req.path.clone(),
        acl,
        version,
    };
    Ok((txn, Done::SetAcl(stat)))
}

/// check (13), inside multi.
pub fn check(view: &mut View, ctx: &Ctx, req: &CheckVersionRequest) -> Prepped {
    valid_path(&req.path)?;
    let node = view.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_perm(&node, ctx, perms::READ)?;
    check_version(node.stat.version, req.version)?;
    Ok((
        Txn::Check {
            path: req.path.clone(),
        },
        Done::Check,
    ))
}

/// A multi: every op in order against the state left by the previous ones. On the first
/// failure nothing is staged and the txn is a multi of error txns, as Apache's: 0 for the
/// ops before, the code for the failing op and RUNTIMEINCONSISTENCY for the ops after.
/// The reply is derived from the txn once it is applied ([`multi_results`]).
pub fn multi(view: &mut View, ctx: &Ctx, ops: &[MultiOp]) -> Txn {
    let mut txns = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        // Inside multi, Apache lets the flags decide the node kind instead of the op type.
        let prepped = match op {
            MultiOp::Create { request, .. } if request.flags == CreateMode::Container.flags() => {
                create(view, ctx, OpCode::CreateContainer, request, None)
            }
            MultiOp::Create { request, .. } => create(view, ctx, OpCode::Create2, request, None),
            MultiOp::CreateTtl(r) => {
                let req = CreateRequest {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    acl: r.acl.clone(),
                    flags: r.flags,
                };
                let ttl_mode = CreateMode::from_flags(r.flags).is_ok_and(|m| m.is_ttl());
                if ttl_mode {
                    create(view, ctx, OpCode::CreateTtl, &req, Some(r.ttl))
                } else if r.flags == CreateMode::Container.flags() {
                    create(view, ctx, OpCode::CreateContainer, &req, None)
                } else {
                    create(view, ctx, OpCode::Create2, &req, None)
                }
            }
            MultiOp::Delete(r) => delete(view, ctx, r),
            MultiOp::SetData(r) => set_data(view, ctx, r),
            MultiOp::Check(r) => check(view, ctx, r),
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => Err(ErrorCode::MarshallingError),
        };
        match prepped {
            Ok((txn, _)) => txns.push(txn),
            Err(code) => {
                view.discard_staged();
                let errors = (0..ops.len())
                    .map(|i| Txn::Error {
                        err: match i.cmp(&index) {
                            std::cmp::Ordering::Less => 0,
                            std::cmp::Ordering::Equal => code.code(),
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                        },
                    })
                    .collect();
                return Txn::Multi(errors);
            }
        }
    }
    Txn::Multi(txns)
}

/// The results of an applied multi txn, given its ops' requests and the stats applying it
/// reported ([`crate::tree::Applied::stats`]): what every member that holds the request
/// answers, whichever member prepared it.
pub fn multi_results(txn: &Txn, ops: &[MultiOp], stats: &[Stat]) -> Vec<MultiResult> {
    let Txn::Multi(txns) = txn else {
        return Vec::new();
    };
    if txns.iter().any(|t| matches!(t, Txn::Error { .. })) {
        return txns
            .iter()
            .map(|t| match t {
                Txn::Error { err } => MultiResult::Error(*err),
                _ => MultiResult::Error(0),
            })
            .collect();
    }
    let mut stats = stats.iter().copied();
    txns.iter()
        .zip(ops)
        .map(|(t, op)| match t {
            Txn::Create { path, .. } => {
                let stat = stats.next().unwrap_or_default();
                match op {
                    MultiOp::Create {
                        opcode: OpCode::Create,
                        ..
                    } => MultiResult::Create(path.clone()),
                    _ => MultiResult::Create2 {
                        path: path.clone(),
                        stat,
                    },
                }
            }
            Txn::Delete { .. } => MultiResult::Delete,
            Txn::SetData { .. } | Txn::SetAcl { .. } => {
                MultiResult::SetData(stats.next().unwrap_or_default())
            }
            _ => MultiResult::Check,
        })
        .collect()
}
