//! Read requests and watch bookkeeping requests: answered straight from the tree, in
//! order with the session's writes (the core handles requests one at a time).
//!
//! Owns exists/getData/getChildren(2)/getACL/getAllChildrenNumber/sync/getEphemerals/
//! whoAmI, multiRead, and addWatch/checkWatches/removeWatches/setWatches(2), with Apache
//! 3.8's checks and watch registration rules.

use zk_proto::acl::ClientInfo;
use zk_proto::multi::{MultiKind, MultiOp, MultiRequest, MultiResponse, MultiResult};
use zk_proto::ops::*;
use zk_proto::{perms, AddWatchMode, ErrorCode, EventType, Request, Response, WatcherType};

use crate::acl;
use crate::core::{notification, ServerCore};
use crate::tree::{DataTree, Node};
use crate::watches::{ConnId, Table, WatchMode};

impl ServerCore {
    fn can(&self, conn: ConnId, node: &Node, perm: i32) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| acl::check(&node.acl, &c.ids, perm))
    }

    /// Answers a read or watch request.
    pub(crate) fn read(&mut self, conn: ConnId, session: i64, xid: i32, request: Request) {
        let result = match request {
            Request::Exists(r) => self.exists(conn, &r),
            Request::GetData(r) => self.get_data(conn, &r.path, r.watch),
            Request::GetChildren(r) => self
                .get_children(conn, &r.path, r.watch)
                .map(|(children, _)| Response::Strings(children)),
            Request::GetChildren2(r) => {
                self.get_children(conn, &r.path, r.watch)
                    .map(|(children, stat)| {
                        Response::Children2(GetChildren2Response { children, stat })
                    })
            }
            Request::GetAcl(r) => self.get_acl(conn, &r.path),
            Request::GetAllChildrenNumber(r) => match self.tree.get(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) if !self.can(conn, n, perms::READ) => Err(ErrorCode::NoAuth),
                // Apache counts by path prefix over every node, and "" (its alias of the
                // root) then counts the root itself too.
                Some(_) if r.path.is_empty() => Ok(Response::AllChildrenNumber(
                    self.tree.descendant_count("/") as i32 + 1,
                )),
                Some(_) => Ok(Response::AllChildrenNumber(
                    self.tree.descendant_count(&r.path) as i32,
                )),
            },
            Request::Sync(r) => Ok(Response::Sync(r.path)),
            Request::GetEphemerals(r) => {
                let prefix = r.path.trim();
                Ok(Response::Strings(
                    self.tree
                        .ephemerals(session)
                        .filter(|p| prefix.is_empty() || prefix == "/" || p.starts_with(prefix))
                        .cloned()
                        .collect(),
                ))
            }
            Request::WhoAmI => Ok(Response::WhoAmI(
                self.conns
                    .get(&conn)
                    .map(|c| {
                        acl::apache_order(&c.ids)
                            .into_iter()
                            .map(|id| ClientInfo {
                                auth_scheme: id.scheme.clone(),
                                user: match id.scheme.as_str() {
                                    "digest" => {
                                        id.id.split(':').next().unwrap_or_default().to_owned()
                                    }
                                    _ => id.id.clone(),
                                },
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            Request::AddWatch(r) => match AddWatchMode::from_code(r.mode) {
                Ok(mode) => {
                    let recursive = mode == AddWatchMode::PersistentRecursive;
                    self.watches.add_persistent(&r.path, conn, recursive);
                    Ok(Response::AddWatch(0))
                }
                Err(_) => Err(ErrorCode::MarshallingError),
            },
            Request::CheckWatches(r) => self.watch_lookup(conn, &r, false),
            Request::RemoveWatches(r) => self.watch_lookup(conn, &r, true),
            Request::SetWatches(r) => {
                self.set_watches(
                    conn,
                    r.relative_zxid,
                    [
                        &r.data_watches,
                        &r.exist_watches,
                        &r.child_watches,
                        &vec![],
                        &vec![],
                    ],
                );
                Ok(Response::Empty)
            }
            Request::SetWatches2(r) => {
                self.set_watches(
                    conn,
                    r.relative_zxid,
                    [
                        &r.data_watches,
                        &r.exist_watches,
                        &r.child_watches,
                        &r.persistent_watches,
                        &r.persistent_recursive_watches,
                    ],
                );
                Ok(Response::Empty)
            }
            other => {
                tracing::error!(?other, "write request routed to reads");
                Err(ErrorCode::SystemError)
            }
        };
        match result {
            Ok(response) => self.reply(conn, xid, ErrorCode::Ok, Some(&response)),
            Err(err) => self.reply(conn, xid, err, None),
        }
    }

    fn exists(&mut self, conn: ConnId, r: &PathWatchRequest) -> Result<Response, ErrorCode> {
        if r.path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        // The watch is left whether or not the node exists; it fires on creation.
        if r.watch {
            self.watches
                .add(Table::Data, &r.path, conn, WatchMode::Standard);
        }
        match self.tree.get(&r.path) {
            Some(n) => Ok(Response::Stat(n.stat())),
            None => Err(ErrorCode::NoNode),
        }
    }

    fn get_data(&mut self, conn: ConnId, path: &str, watch: bool) -> Result<Response, ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !self.can(conn, node, perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        let response = Response::GetData(GetDataResponse {
            data: node.data_bytes(),
            stat: node.stat(),
        });
        if watch {
            self.watches
                .add(Table::Data, path, conn, WatchMode::Standard);
        }
        Ok(response)
    }

    fn get_children(
        &mut self,
        conn: ConnId,
        path: &str,
        watch: bool,
    ) -> Result<(Vec<String>, zk_proto::Stat), ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !self.can(conn, node, perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        let children = node.children().map(str::to_owned).collect();
        let stat = node.stat();
        if watch {
            self.watches
                .add(Table::Child, path, conn, WatchMode::Standard);
        }
        Ok((children, stat))
    }

    fn get_acl(&self, conn: ConnId, path: &str) -> Result<Response, ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !self.can(conn, node, acl::GET_ACL_PERMS) {
            return Err(ErrorCode::NoAuth);
        }
        let list = if self.can(conn, node, perms::ADMIN) {
            node.acl.as_ref().clone()
        } else {
            acl::mask_digests(&node.acl)
        };
        Ok(Response::GetAcl(GetAclResponse {
            acl: list,
            stat: node.stat(),
        }))
    }

    /// checkWatches/removeWatches on this connection's own watch of `path`.
    fn watch_lookup(
        &mut self,
        conn: ConnId,
        r: &WatchesRequest,
        remove: bool,
    ) -> Result<Response, ErrorCode> {
        // 3.8 knows Children, Data and Any; anything else fails to deserialize there.
        let tables: &[Table] = match WatcherType::from_code(r.watcher_type) {
            Ok(WatcherType::Children) => &[Table::Child],
            Ok(WatcherType::Data) => &[Table::Data],
            Ok(WatcherType::Any) => &[Table::Data, Table::Child],
            _ => return Err(ErrorCode::MarshallingError),
        };
        let mut found = false;
        for &table in tables {
            if remove {
                found |= self.watches.remove(table, &r.path, conn);
            } else {
                found |= self.watches.contains(table, &r.path, conn);
            }
        }
        if found {
            Ok(Response::Empty)
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }

    /// Re-registers watches after a reconnect, first sending the events the client missed
    /// since `relative_zxid` (Apache's `DataTree.setWatches`).
    fn set_watches(&mut self, conn: ConnId, relative_zxid: i64, lists: [&Vec<String>; 5]) {
        let [data, exist, child, persistent, recursive] = lists;
        for path in data {
            match self.tree.get(path) {
                None => self.catch_up(conn, EventType::NodeDeleted, path),
                Some(n) if n.stat.mzxid > relative_zxid => {
                    self.catch_up(conn, EventType::NodeDataChanged, path)
                }
                Some(_) => self
                    .watches
                    .add(Table::Data, path, conn, WatchMode::Standard),
            }
        }
        for path in exist {
            match self.tree.get(path) {
                Some(_) => self.catch_up(conn, EventType::NodeCreated, path),
                None => self
                    .watches
                    .add(Table::Data, path, conn, WatchMode::Standard),
            }
        }
        for path in child {
            match self.tree.get(path) {
                None => self.catch_up(conn, EventType::NodeDeleted, path),
                Some(n) if n.stat.pzxid > relative_zxid => {
                    self.catch_up(conn, EventType::NodeChildrenChanged, path)
                }
                Some(_) => self
                    .watches
                    .add(Table::Child, path, conn, WatchMode::Standard),
            }
        }
        for path in persistent {
            self.watches.add_persistent(path, conn, false);
        }
        for path in recursive {
            self.watches.add_persistent(path, conn, true);
        }
    }

    fn catch_up(&mut self, conn: ConnId, event_type: EventType, path: &str) {
        let frame = notification(event_type, path);
        self.send_frame(conn, frame);
    }

    /// multiRead: every op answered on its own; failures become error entries.
    pub(crate) fn multi_read(&mut self, conn: ConnId, xid: i32, request: MultiRequest) {
        if matches!(request.kind(), MultiKind::Write | MultiKind::Mixed) {
            self.reply(conn, xid, ErrorCode::MarshallingError, None);
            return;
        }
        let results = request
            .ops
            .iter()
            .map(|op| match op {
                MultiOp::GetData(r) => match read_node(&self.tree, &r.path) {
                    Ok(n) if self.can(conn, n, perms::READ) => MultiResult::GetData {
                        data: n.data_bytes(),
                        stat: n.stat(),
                    },
                    Ok(_) => MultiResult::Error(ErrorCode::NoAuth.code()),
                    Err(e) => MultiResult::Error(e.code()),
                },
                MultiOp::GetChildren(r) => match read_node(&self.tree, &r.path) {
                    Ok(n) if self.can(conn, n, perms::READ) => {
                        MultiResult::GetChildren(n.children().map(str::to_owned).collect())
                    }
                    Ok(_) => MultiResult::Error(ErrorCode::NoAuth.code()),
                    Err(e) => MultiResult::Error(e.code()),
                },
                _ => MultiResult::Error(ErrorCode::MarshallingError.code()),
            })
            .collect();
        self.reply(
            conn,
            xid,
            ErrorCode::Ok,
            Some(&Response::Multi(MultiResponse { results })),
        );
    }
}

fn read_node<'a>(tree: &'a DataTree, path: &str) -> Result<&'a Node, ErrorCode> {
    tree.get(path).ok_or(ErrorCode::NoNode)
}
