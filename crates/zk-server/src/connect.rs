//! The handshake: a ConnectRequest creates a session or re-attaches one, and the
//! connection then serves requests; plus session liveness as each role keeps it.
//!
//! A new session is a txn (createSession) like any write, so its ConnectResponse goes
//! out once the txn commits — at once in memory, after the fsync when durable, after a
//! quorum in an ensemble. A re-attach is checked locally on a standalone server or the
//! leader; a follower asks the leader ([`crate::core::Replicate::Revalidate`]), which
//! also makes the follower the session's owner. Frames that arrive while the session is
//! being established wait and are replayed after the ConnectResponse, as Apache stops
//! reading such a connection.
//!
//! Owns nothing but these steps; the session table itself is the tree's (committed
//! sessions) and the tracker's (expiry, owners).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::frame::write_frame;
use zk_proto::{ConnectRequest, ConnectResponse, Decode, Encode, OpCode};

use crate::core::{ConnState, Forwarded, Now, PendingConnect, Replicate, Role, ServerCore};
use crate::sessions::{password, Owner, PASSWORD_LEN};
use crate::txn::Txn;
use crate::watches::ConnId;

impl ServerCore {
    pub(crate) fn handle_connect(&mut self, conn: ConnId, frame: Bytes, now: Now) {
        let request = match ConnectRequest::decode(&mut frame.clone()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(conn, error = %e, "malformed ConnectRequest; closing");
                self.stats.bad_input += 1;
                self.close(conn);
                return;
            }
        };
        if self.role == Role::NotServing {
            // Apache: "ZooKeeperServer not running" — the socket is closed, no bytes.
            tracing::debug!(conn, "not serving: closing a client connect");
            self.close(conn);
            return;
        }
        if request.last_zxid_seen > self.last_zxid() {
            tracing::info!(
                conn,
                client_zxid = format_args!("{:#x}", request.last_zxid_seen),
                server_zxid = format_args!("{:#x}", self.last_zxid()),
                "client has seen a newer zxid than this server; closing"
            );
            self.close(conn);
            return;
        }
        let timeout_ms = (request.timeout.max(0) as u128)
            .clamp(
                self.config.min_session_timeout.as_millis(),
                self.config.max_session_timeout.as_millis(),
            )
            .min(i32::MAX as u128) as i32;
        let timeout = Duration::from_millis(timeout_ms as u64);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.old_client = request.read_only.is_none();
        }
        if request.session_id == 0 {
            let id = self.tracker.next_id();
            self.await_session(conn, id, timeout_ms);
            self.stats.sessions_created += 1;
            match self.role {
                Role::Standalone | Role::Leader => {
                    self.tracker.add(id, timeout, now.mono, self.own_id());
                    self.propose(
                        id,
                        0,
                        Txn::CreateSession {
                            timeout: timeout_ms,
                        },
                        None,
                        now,
                    );
                }
                Role::Follower => {
                    // The follower keeps the timeout to report touches with.
                    self.tracker.add(id, timeout, now.mono, self.own_id());
                    let mut body = BytesMut::with_capacity(4);
                    body.put_i32(timeout_ms);
                    self.replicate.push_back(Replicate::Forward(Forwarded {
                        session: id,
                        cxid: 0,
                        opcode: OpCode::CreateSession.code(),
                        body: body.freeze(),
                        ids: Vec::new(),
                    }));
                }
                Role::NotServing => {}
            }
            return;
        }
        let id = request.session_id;
        // A new connection for a session first kicks the one it had, even if this
        // attempt then fails the password check (as Apache does).
        if let Some(&other) = self.session_conn.get(&id) {
            if other != conn {
                self.close(other);
            }
        }
        let password_ok =
            request.password.len() == PASSWORD_LEN && request.password[..] == password(id)[..];
        if !password_ok {
            self.reject(conn);
            return;
        }
        match self.role {
            Role::Standalone | Role::Leader => {
                if self.tracker.contains(id) {
                    self.tracker.set_timeout(id, timeout, now.mono);
                    self.tracker.set_owner(id, self.own_id());
                    tracing::debug!(session_id = format_args!("{id:#x}"), "session re-attached");
                    self.connected(conn, id, timeout_ms);
                } else {
                    self.reject(conn);
                }
            }
            Role::Follower => {
                self.tracker.add(id, timeout, now.mono, self.own_id());
                self.await_session(conn, id, timeout_ms);
                self.replicate.push_back(Replicate::Revalidate {
                    session: id,
                    timeout: timeout_ms,
                });
            }
            Role::NotServing => {}
        }
    }

    /// This member's id as a session owner.
    pub(crate) fn own_id(&self) -> Owner {
        match self.role {
            Role::Standalone => 0,
            _ => self.config.server_id as Owner,
        }
    }

    fn await_session(&mut self, conn: ConnId, session: i64, timeout_ms: i32) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Connecting { session };
        }
        self.session_conn.insert(session, conn);
        self.connecting
            .insert(session, PendingConnect { conn, timeout_ms });
    }

    /// The session of a waiting connect was created or confirmed: answer it and replay
    /// what the client sent meanwhile.
    pub(crate) fn session_ready(&mut self, session: i64, now: Now) {
        if let Some(pending) = self.connecting.remove(&session) {
            self.connected(pending.conn, session, pending.timeout_ms);
            let early = match self.conns.get_mut(&pending.conn) {
                Some(c) => std::mem::take(&mut c.early),
                None => return,
            };
            for frame in early {
                match self.conns.get(&pending.conn).map(|c| c.state) {
                    Some(ConnState::Active { session }) => {
                        self.handle_request(pending.conn, session, frame, now)
                    }
                    _ => break,
                }
            }
        }
    }

    fn connected(&mut self, conn: ConnId, session: i64, timeout_ms: i32) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.state = ConnState::Active { session };
        let read_only = (!c.old_client).then_some(false);
        self.session_conn.insert(session, conn);
        if self.role == Role::Follower {
            self.touched.insert(session, timeout_ms);
        }
        let response = ConnectResponse {
            protocol_version: 0,
            timeout: timeout_ms,
            session_id: session,
            password: password(session).to_vec(),
            read_only,
        };
        self.send_connect_response(conn, &response);
    }

    fn reject(&mut self, conn: ConnId) {
        let read_only = self
            .conns
            .get(&conn)
            .and_then(|c| (!c.old_client).then_some(false));
        let response = ConnectResponse {
            protocol_version: 0,
            timeout: 0,
            session_id: 0,
            password: vec![0; PASSWORD_LEN],
            read_only,
        };
        self.send_connect_response(conn, &response);
        self.close(conn);
    }

    fn send_connect_response(&mut self, conn: ConnId, response: &ConnectResponse) {
        let mut buf = BytesMut::with_capacity(48);
        write_frame(&mut buf, |b| response.encode(b));
        self.send(conn, buf.freeze());
    }

    /// Follower: the leader answered a revalidation.
    pub fn revalidated(&mut self, session: i64, valid: bool, now: Now) {
        self.clock = now.mono;
        if valid {
            tracing::debug!(
                session_id = format_args!("{session:#x}"),
                "session re-attached (leader confirmed)"
            );
            self.session_ready(session, now);
        } else if let Some(pending) = self.connecting.remove(&session) {
            self.tracker.remove(session);
            self.reject(pending.conn);
        }
    }

    /// Leader: a follower's client re-attaches `session`. True if the session is alive;
    /// the follower then owns it (later requests through another member get SESSIONMOVED).
    pub fn revalidate(&mut self, session: i64, timeout_ms: i32, owner: Owner, now: Now) -> bool {
        if self.role != Role::Leader || !self.tracker.contains(session) {
            return false;
        }
        self.tracker.set_timeout(
            session,
            Duration::from_millis(timeout_ms.max(0) as u64),
            now.mono,
        );
        self.tracker.set_owner(session, owner);
        // A client that moved here from the leader: its old connection is stale.
        if let Some(conn) = self.session_conn.get(&session).copied() {
            self.close(conn);
        }
        true
    }

    /// Any packet from a session's client keeps it alive: the leader and a standalone
    /// server push its deadline; a follower remembers it for its next ping to the leader.
    pub(crate) fn touch_session(&mut self, session: i64, now: Now) {
        match self.role {
            Role::Standalone | Role::Leader => {
                self.tracker.touch(session, now.mono);
            }
            Role::Follower => {
                let timeout = self
                    .tracker
                    .timeout(session)
                    .map_or(0, |t| t.as_millis().min(i32::MAX as u128) as i32);
                self.touched.insert(session, timeout);
            }
            Role::NotServing => {}
        }
    }

    /// Follower: the sessions touched since the last call, with their timeouts, for the
    /// ping reply to the leader.
    pub fn take_touches(&mut self) -> Vec<(i64, i32)> {
        let mut touches: Vec<(i64, i32)> = self.touched.drain().collect();
        touches.sort_unstable();
        touches
    }

    /// Leader: a follower reported `session` touched.
    pub fn touch(&mut self, session: i64, now: Now) {
        if self.role == Role::Leader {
            self.tracker.touch(session, now.mono);
        }
    }
}
