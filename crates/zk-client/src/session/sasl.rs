//! The SASL exchange that follows a handshake when [`SessionConfig::sasl`](super::SessionConfig::sasl) is set: the
//! session's part of it (xids, phases, what a refusal does). The module docs of
//! [`crate::session`] describe the behaviour; the mechanisms are
//! [`zk_proto::sasl::digest_md5`] and [`zk_proto::sasl::gssapi`].

use std::time::Instant;

use zk_proto::frame::write_frame;
use zk_proto::header::{NOTIFICATION_XID, PING_XID};
use zk_proto::ops::SaslPacket;
use zk_proto::sasl::ClientStep;
use zk_proto::{Decode, Encode, OpCode, ReplyHeader, RequestHeader};

use super::{later, Phase, Session};
use crate::error::Error;
use crate::sasl::{Mechanism, SaslOptions, SaslStart};
use crate::state::SessionState;

/// One SASL exchange on the current transport.
#[derive(Debug)]
pub(super) struct SaslExchange {
    mechanism: Mechanism,
    /// The xid of the `sasl` request awaiting its reply.
    xid: i32,
    /// Whether the server is read-only (known from the ConnectResponse).
    read_only: bool,
    span: tracing::Span,
}

impl<R> Session<R> {
    /// The session is established on this transport: authenticate before anything else.
    /// Returns false when the mechanism cannot even start (GSSAPI without credentials):
    /// the session is then over, in `AuthFailed`, before anything was sent.
    pub(super) fn start_sasl(&mut self, now: Instant, sasl: &SaslOptions, read_only: bool) -> bool {
        self.phase = Phase::Authenticating {
            deadline: later(now, self.config.connect_timeout),
        };
        let span = tracing::info_span!(
            "sasl",
            mechanism = sasl.mechanism_name(),
            user = %sasl.username(),
            host = %self.server_host
        );
        // Started by the driver off the runtime when it may block (GSSAPI), else here.
        let started = match self.prepared_sasl.take() {
            Some((host, started)) if host == self.server_host => started,
            _ => span.in_scope(|| sasl.start(&self.server_host)),
        };
        let (mechanism, first) = match started {
            Ok(started) => started,
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "SASL cannot start; session is over"));
                self.terminate(SessionState::AuthFailed);
                return false;
            }
        };
        let xid = self.write_sasl(now, first);
        span.in_scope(|| tracing::debug!(xid, "SASL exchange started"));
        self.sasl = Some(SaslExchange {
            mechanism,
            xid,
            read_only,
            span,
        });
        true
    }

    /// The SASL options whose mechanism may block on the network when started (GSSAPI),
    /// if the session uses one: the driver starts it with [`Self::provide_sasl_start`].
    pub(crate) fn sasl_to_prepare(&self) -> Option<SaslOptions> {
        self.config
            .sasl
            .as_ref()
            .filter(|sasl| sasl.start_may_block())
            .cloned()
    }

    /// The mechanism started for the next connection, to `host`; used once, by the
    /// exchange that follows that connection's handshake.
    pub(crate) fn provide_sasl_start(&mut self, host: String, started: SaslStart) {
        self.prepared_sasl = Some((host, started));
    }

    /// Forgets a started mechanism the connection did not use: a GSSAPI context is good
    /// for one exchange only (the server would take a second use for a replay).
    pub(crate) fn discard_sasl_start(&mut self) {
        self.prepared_sasl = None;
    }

    /// Writes a `sasl` request with the next xid and returns the xid.
    fn write_sasl(&mut self, now: Instant, token: Vec<u8>) -> i32 {
        let xid = self.take_xid();
        write_frame(&mut self.write_buf, |b| {
            RequestHeader {
                xid,
                opcode: OpCode::Sasl.code(),
            }
            .encode(b);
            SaslPacket {
                token: Some(token.into()),
            }
            .encode(b);
        });
        self.last_send = now;
        xid
    }

    /// A frame during the SASL exchange. Returns false when the connection was dropped.
    pub(super) fn handle_sasl_frame(&mut self, now: Instant, mut frame: bytes::Bytes) -> bool {
        let header = match ReplyHeader::decode(&mut frame) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "malformed reply header; dropping connection");
                self.drop_transport();
                return false;
            }
        };
        match header.xid {
            PING_XID => return true,
            NOTIFICATION_XID => {
                self.handle_notification(header, frame);
                return true;
            }
            _ => {}
        }
        let Some(mut exchange) = self.sasl.take() else {
            self.drop_transport();
            return false;
        };
        let span = exchange.span.clone();
        let _entered = span.enter();
        if header.xid != exchange.xid {
            tracing::warn!(
                expected = exchange.xid,
                got = header.xid,
                "unexpected reply during SASL; dropping connection"
            );
            self.drop_transport();
            return false;
        }
        if header.err != 0 {
            // AuthFailed, or SessionClosedRequireSaslAuth: the server closes the connection
            // after this reply and would refuse the same credentials again.
            tracing::warn!(
                error = %Error::from_code(header.err),
                "server refused SASL authentication; session is over"
            );
            self.terminate(SessionState::AuthFailed);
            return false;
        }
        let token = match SaslPacket::decode(&mut frame) {
            Ok(packet) => packet.token.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "malformed SASL reply; dropping connection");
                self.drop_transport();
                return false;
            }
        };
        match exchange.mechanism.step(&token) {
            Ok(ClientStep::Respond(response)) => {
                exchange.xid = self.write_sasl(now, response);
                tracing::debug!(xid = exchange.xid, "SASL challenge answered");
                self.sasl = Some(exchange);
                true
            }
            Ok(ClientStep::Complete) => {
                tracing::info!("SASL authenticated");
                self.finish_establishing(now, exchange.read_only);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "SASL exchange failed; session is over");
                self.terminate(SessionState::AuthFailed);
                false
            }
        }
    }
}
