//! The write pipeline, as Apache's request processors: prepare (leader or standalone),
//! propose, commit, apply, reply — and the per-session order that holds a session's
//! reads behind its earlier writes.
//!
//! - **Prepare** ([`ServerCore::prepare`]): a write becomes a txn with every choice fixed
//!   ([`crate::prep`]), checked against the tree plus outstanding changes. Failed writes
//!   become error txns: they consume a zxid like any write (Apache does the same).
//! - **Propose**: the txn gets the next zxid. Standalone in memory commits it at once;
//!   standalone durable journals it and commits on fsync; a leader hands it to Zab.
//! - **Commit** ([`ServerCore::commit`]): applied to the tree, watches fired, then the
//!   member holding the client's request answers it from what applying reported. Every
//!   member runs this for every committed txn, in zxid order.
//!
//! Owns the per-session queues ([`Waiting`]), reply shapes and the leader's session
//! checks (expired, moved). Must not touch the tree except through commit.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use zk_proto::multi::{MultiKind, MultiOp, MultiResponse};
use zk_proto::ops::*;
use zk_proto::{ErrorCode, Id, OpCode, Request, Response};

use crate::core::{Forwarded, Now, Replicate, Role, ServerCore};
use crate::prep::{self, Rec, View};
use crate::sessions::Owner;
use crate::tree::NodeKind;
use crate::txn::{Txn, TxnHeader};
use crate::watches::ConnId;

/// What a session's connection waits for, in request order.
#[derive(Debug)]
pub(crate) enum Waiting {
    /// A write: answered when its txn (session, cxid) is applied here.
    Write {
        conn: ConnId,
        xid: i32,
        reply: ReplyKind,
    },
    /// Follower: a sync, answered when the leader's sync reply arrives in order with
    /// its commits.
    Sync {
        conn: ConnId,
        xid: i32,
        path: String,
    },
    /// A read or watch request (or the error answering an undecodable one) held behind
    /// the writes before it.
    Held {
        conn: ConnId,
        xid: i32,
        request: Result<Request, ErrorCode>,
    },
}

/// How the reply to a write is shaped, decided from the request where it arrived.
#[derive(Debug, Clone)]
pub(crate) enum ReplyKind {
    /// create: the path.
    Create,
    /// create2, createContainer, createTTL: the path and the Stat.
    Create2,
    /// setData, setACL: the Stat.
    Stat,
    /// delete, and requests that only ever fail (reconfig, undecodable).
    Empty,
    /// multi: the ops, to shape each result.
    Multi(Vec<MultiOp>),
    /// closeSession: an empty reply, then the connection closes.
    Close,
}

impl ReplyKind {
    fn of(request: Option<&Request>) -> ReplyKind {
        match request {
            Some(Request::Create(_)) => ReplyKind::Create,
            Some(Request::Create2(_) | Request::CreateContainer(_) | Request::CreateTtl(_)) => {
                ReplyKind::Create2
            }
            Some(Request::SetData(_) | Request::SetAcl(_)) => ReplyKind::Stat,
            Some(Request::Multi(m)) => ReplyKind::Multi(m.ops.clone()),
            Some(Request::CloseSession) => ReplyKind::Close,
            _ => ReplyKind::Empty,
        }
    }
}

impl ServerCore {
    /// A client write arrived on `conn`: queue its reply, then prepare it here or forward
    /// it to the leader. `request` is `None` when the body did not decode.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn submit_write(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        opcode: OpCode,
        request: Option<Request>,
        body: Bytes,
        now: Now,
    ) {
        let reply = ReplyKind::of(request.as_ref());
        self.queues
            .entry(session)
            .or_default()
            .push_back(Waiting::Write { conn, xid, reply });
        let ids = self.ids(conn);
        match self.role {
            Role::Standalone | Role::Leader => {
                let owner = self.own_id();
                self.prepare(session, xid, &ids, request.as_ref(), owner, now);
            }
            Role::Follower => self.replicate.push_back(Replicate::Forward(Forwarded {
                session,
                cxid: xid,
                opcode: opcode.code(),
                body,
                ids,
            })),
            Role::NotServing => {}
        }
    }

    /// Leader: a follower forwarded a client's request.
    pub fn forwarded(&mut self, from: Owner, f: Forwarded, now: Now) {
        self.clock = now.mono;
        if self.role != Role::Leader {
            return;
        }
        let Ok(opcode) = OpCode::from_code(f.opcode) else {
            tracing::warn!(
                from,
                opcode = f.opcode,
                "forwarded request with an unknown opcode"
            );
            return;
        };
        match opcode {
            OpCode::CreateSession => {
                let timeout = f.body[..]
                    .first_chunk::<4>()
                    .map_or(0, |b| i32::from_be_bytes(*b));
                self.tracker.add(
                    f.session,
                    Duration::from_millis(timeout.max(0) as u64),
                    now.mono,
                    from,
                );
                self.propose(f.session, 0, Txn::CreateSession { timeout }, None, now);
            }
            _ => {
                let request = Request::decode_body(opcode, &mut f.body.clone()).ok();
                self.prepare(f.session, f.cxid, &f.ids, request.as_ref(), from, now);
            }
        }
    }

    /// Turns a write into a txn and proposes it. `owner` is the member the request came
    /// through; the leader refuses requests of dead sessions (SESSIONEXPIRED) and of
    /// sessions owned by another member (SESSIONMOVED), as error txns.
    pub(crate) fn prepare(
        &mut self,
        session: i64,
        xid: i32,
        ids: &[Id],
        request: Option<&Request>,
        owner: Owner,
        now: Now,
    ) {
        let Some(request) = request else {
            let err = ErrorCode::MarshallingError.code();
            self.propose(session, xid, Txn::Error { err }, None, now);
            return;
        };
        if let Request::CloseSession = request {
            // From now on the session is closing: later requests are refused.
            self.tracker.remove(session);
            self.propose(session, xid, Txn::CloseSession, None, now);
            return;
        }
        if self.role == Role::Leader {
            let check = match self.tracker.owner(session) {
                None => Err(ErrorCode::SessionExpired),
                Some(o) if o != owner => Err(ErrorCode::SessionMoved),
                Some(_) => Ok(()),
            };
            if let Err(err) = check {
                self.propose(session, xid, Txn::Error { err: err.code() }, None, now);
                return;
            }
        }
        let ctx = self.ctx(session, ids, now);
        let mut view = View::new(&self.tree, &self.outstanding);
        let result = match request {
            Request::Create(r) | Request::Create2(r) => {
                let op = if matches!(request, Request::Create(_)) {
                    OpCode::Create
                } else {
                    OpCode::Create2
                };
                prep::create(&mut view, &ctx, op, r, None).map(|(t, _)| t)
            }
            Request::CreateContainer(r) => {
                prep::create(&mut view, &ctx, OpCode::CreateContainer, r, None).map(|(t, _)| t)
            }
            Request::CreateTtl(r) => {
                let req = CreateRequest {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    acl: r.acl.clone(),
                    flags: r.flags,
                };
                prep::create(&mut view, &ctx, OpCode::CreateTtl, &req, Some(r.ttl)).map(|(t, _)| t)
            }
            Request::Delete(r) => prep::delete(&mut view, &ctx, r).map(|(t, _)| t),
            // Apache answers every client-sent deleteContainer with BADARGUMENTS (its
            // ContainerManager submits them internally); containers are cleaned up by
            // `tick` here.
            Request::DeleteContainer(_) => Err(ErrorCode::BadArguments),
            Request::SetData(r) => prep::set_data(&mut view, &ctx, r).map(|(t, _)| t),
            Request::SetAcl(r) => prep::set_acl(&mut view, &ctx, r).map(|(t, _)| t),
            Request::Multi(m) if matches!(m.kind(), MultiKind::Read | MultiKind::Mixed) => {
                Err(ErrorCode::MarshallingError)
            }
            Request::Multi(m) => Ok(prep::multi(&mut view, &ctx, &m.ops)),
            // reconfigEnabled is false, as Apache's default.
            Request::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            _ => Err(ErrorCode::MarshallingError),
        };
        let staged = view.into_staged();
        match result {
            Ok(txn) => self.propose(session, xid, txn, Some(staged), now),
            Err(err) => self.propose(session, xid, Txn::Error { err: err.code() }, None, now),
        }
    }

    /// Gives a prepared txn the next zxid and sends it on its way to commit.
    pub(crate) fn propose(
        &mut self,
        session: i64,
        cxid: i32,
        txn: Txn,
        staged: Option<std::collections::HashMap<String, Option<Rec>>>,
        now: Now,
    ) {
        let header = TxnHeader {
            session_id: session,
            cxid,
            zxid: self.next_zxid,
            time: now.wall_ms,
        };
        self.next_zxid += 1;
        if self.role == Role::Standalone && !self.config.durable {
            // Committed as soon as prepared: nothing is ever outstanding.
            self.commit(header, txn, now);
            return;
        }
        if let Some(staged) = staged {
            self.outstanding.record(header.zxid, staged);
        }
        match self.role {
            Role::Standalone => {
                crate::persist::encode_record(&mut self.records, &header, &txn);
                self.unjournaled += 1;
                self.prepared.push_back((header, txn));
            }
            Role::Leader => self.replicate.push_back(Replicate::Propose { header, txn }),
            Role::Follower | Role::NotServing => {}
        }
    }

    /// A committed txn: apply it, fire its watches, settle its session and answer the
    /// request it came from if that request is waiting here. Every member calls this for
    /// every committed txn, in zxid order.
    pub fn commit(&mut self, header: TxnHeader, txn: Txn, now: Now) {
        self.clock = now.mono;
        self.outstanding.committed(header.zxid);
        let mut applied = std::mem::take(&mut self.applied);
        applied.clear();
        if let Err(e) = self.tree.apply(&header, &txn, &mut applied) {
            // Prep checked everything apply relies on; reaching this is a bug, not input.
            tracing::error!(error = %e, "txn failed to apply");
        }
        if self.next_zxid <= header.zxid {
            self.next_zxid = header.zxid + 1;
        }
        self.count_committed();
        for (event_type, path, node_acl) in applied.events.drain(..) {
            self.notify(event_type, &path, &node_acl);
        }
        let session = header.session_id;
        match &txn {
            Txn::CreateSession { .. } => self.session_ready(session, now),
            Txn::CloseSession => {
                if self.role != Role::Leader && self.role != Role::Standalone {
                    self.tracker.remove(session);
                }
                self.touched.remove(&session);
            }
            _ => {}
        }
        let head_matches = self
            .queues
            .get(&session)
            .and_then(VecDeque::front)
            .is_some_and(|w| {
                matches!(w, Waiting::Write { xid, reply, .. } if *xid == header.cxid
                && matches!(reply, ReplyKind::Close) == matches!(txn, Txn::CloseSession))
            });
        if head_matches {
            if let Some(Waiting::Write { conn, xid, reply }) =
                self.queues.get_mut(&session).and_then(VecDeque::pop_front)
            {
                self.answer_write(conn, xid, reply, &txn, &applied.stats);
            }
            self.release_held(session, now);
        }
        if matches!(txn, Txn::CloseSession) {
            // Closed by its client (answered above) or expired: the connection goes.
            self.queues.remove(&session);
            if let Some(conn) = self.session_conn.remove(&session) {
                self.close(conn);
            }
        }
        self.applied = applied;
    }

    fn answer_write(
        &mut self,
        conn: ConnId,
        xid: i32,
        reply: ReplyKind,
        txn: &Txn,
        stats: &[zk_proto::Stat],
    ) {
        if let Txn::Error { err } = txn {
            let code = ErrorCode::from_code(*err).unwrap_or(ErrorCode::SystemError);
            if code == ErrorCode::SessionMoved {
                // The client moved to another member: this connection is stale. Apache
                // closes it instead of answering (ZOOKEEPER-710).
                self.close(conn);
            } else {
                self.reply(conn, xid, code, None);
            }
            return;
        }
        let stat = stats.first().copied().unwrap_or_default();
        let body = match (reply, txn) {
            (ReplyKind::Create, Txn::Create { path, .. }) => {
                Some(Response::Create(CreateResponse { path: path.clone() }))
            }
            (ReplyKind::Create2, Txn::Create { path, .. }) => {
                Some(Response::Create2(Create2Response {
                    path: path.clone(),
                    stat,
                }))
            }
            (ReplyKind::Stat, _) => Some(Response::Stat(stat)),
            (ReplyKind::Multi(ops), txn) => Some(Response::Multi(MultiResponse {
                results: prep::multi_results(txn, &ops, stats),
            })),
            _ => None,
        };
        self.reply(conn, xid, ErrorCode::Ok, body.as_ref());
    }

    /// Answers the held requests at the head of a session's queue, up to its next write.
    fn release_held(&mut self, session: i64, now: Now) {
        let _ = now;
        while let Some(Waiting::Held { .. }) = self.queues.get(&session).and_then(VecDeque::front) {
            if let Some(Waiting::Held { conn, xid, request }) =
                self.queues.get_mut(&session).and_then(VecDeque::pop_front)
            {
                self.answer_read(conn, session, xid, request);
            }
        }
        if self.queues.get(&session).is_some_and(VecDeque::is_empty) {
            self.queues.remove(&session);
        }
    }

    /// A read or watch request: answered now, or after the session's pending writes.
    pub(crate) fn in_order(&mut self, conn: ConnId, session: i64, xid: i32, request: Request) {
        match self.queues.get_mut(&session) {
            Some(queue) if !queue.is_empty() => queue.push_back(Waiting::Held {
                conn,
                xid,
                request: Ok(request),
            }),
            _ => self.answer_read(conn, session, xid, Ok(request)),
        }
    }

    /// An error answer to an undecodable read, which still keeps its place in the
    /// session's order.
    pub(crate) fn answer_in_order(&mut self, conn: ConnId, session: i64, xid: i32, err: ErrorCode) {
        match self.queues.get_mut(&session) {
            Some(queue) if !queue.is_empty() => queue.push_back(Waiting::Held {
                conn,
                xid,
                request: Err(err),
            }),
            _ => self.reply(conn, xid, err, None),
        }
    }

    fn answer_read(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        request: Result<Request, ErrorCode>,
    ) {
        match request {
            Err(err) => self.reply(conn, xid, err, None),
            Ok(Request::MultiRead(m)) => self.multi_read(conn, xid, m),
            Ok(other) => self.read(conn, session, xid, other),
        }
    }

    /// Follower: a sync is ordered with the leader's commits before it is answered.
    pub(crate) fn sync_via_leader(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        path: String,
        body: Bytes,
    ) {
        self.queues
            .entry(session)
            .or_default()
            .push_back(Waiting::Sync { conn, xid, path });
        let ids = self.ids(conn);
        self.replicate.push_back(Replicate::Forward(Forwarded {
            session,
            cxid: xid,
            opcode: OpCode::Sync.code(),
            body,
            ids,
        }));
    }

    /// Follower: the leader's reply to a forwarded sync arrived, after every commit the
    /// leader had made when it got the sync.
    pub fn sync_done(&mut self, session: i64, cxid: i32, now: Now) {
        self.clock = now.mono;
        let head = self.queues.get(&session).and_then(VecDeque::front);
        if !matches!(head, Some(Waiting::Sync { xid, .. }) if *xid == cxid) {
            return;
        }
        if let Some(Waiting::Sync { conn, xid, path }) =
            self.queues.get_mut(&session).and_then(VecDeque::pop_front)
        {
            self.reply(conn, xid, ErrorCode::Ok, Some(&Response::Sync(path)));
        }
        self.release_held(session, now);
    }

    /// Time-driven work: the leader (or a standalone server) expires sessions whose
    /// clients went quiet and deletes empty containers and expired TTL nodes.
    pub fn tick(&mut self, now: Now) {
        self.clock = now.mono;
        let leads = matches!(self.role, Role::Standalone | Role::Leader);
        if now.mono >= self.next_container_check {
            // The deadline moves on whatever the role: a follower reports it too, and
            // must not be woken for it again and again.
            self.next_container_check = now.mono + self.config.container_check_interval;
            if leads {
                self.clean_containers(now);
            }
        }
        if !leads {
            return;
        }
        for session in self.tracker.expired(now.mono) {
            tracing::info!(session_id = format_args!("{session:#x}"), "session expired");
            self.stats.sessions_expired += 1;
            self.propose(session, 0, Txn::CloseSession, None, now);
        }
    }

    /// Expires a session now (test harness); false if it is not alive.
    pub fn expire_session(&mut self, session: i64, now: Now) -> bool {
        if !matches!(self.role, Role::Standalone | Role::Leader) || !self.tracker.contains(session)
        {
            return false;
        }
        tracing::info!(
            session_id = format_args!("{session:#x}"),
            "session expired (forced)"
        );
        self.stats.sessions_expired += 1;
        self.tracker.remove(session);
        self.propose(session, 0, Txn::CloseSession, None, now);
        true
    }

    fn clean_containers(&mut self, now: Now) {
        let mut doomed = Vec::new();
        {
            let view = View::new(&self.tree, &self.outstanding);
            for path in self.tree.containers() {
                if let Some(n) = view.get(path) {
                    if n.num_children == 0 && n.stat.cversion > 0 {
                        doomed.push(path.clone());
                    }
                }
            }
            for path in self.tree.ttl_nodes() {
                if let Some(n) = view.get(path) {
                    if let NodeKind::Ttl(ttl) = NodeKind::of(n.stat.ephemeral_owner) {
                        if n.num_children == 0 && now.wall_ms - n.stat.mtime > ttl {
                            doomed.push(path.clone());
                        }
                    }
                }
            }
        }
        for path in doomed {
            tracing::debug!(%path, "deleting empty container or expired TTL node");
            let zxid = self.next_zxid;
            let mut view = View::new(&self.tree, &self.outstanding);
            // Deleting as the server itself: no ACL applies, but the node must still be
            // there and empty once outstanding changes are counted.
            if let Some(txn) = prep::delete_as_server(&mut view, zxid, &path) {
                let staged = view.into_staged();
                self.propose(0, 0, txn, Some(staged), now);
            }
        }
    }
}
