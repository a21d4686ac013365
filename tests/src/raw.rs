//! A raw protocol connection for tests that must send what a well-behaved client never
//! would (invalid paths, bad flags, unknown opcodes, truncated bodies, garbage).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_proto::frame::{write_frame, FrameDecoder};
use zk_proto::{
    ConnectRequest, ConnectResponse, Decode, Encode, OpCode, ReplyHeader, Request, RequestHeader,
    Response, WatcherEvent,
};

/// What came back for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A reply frame: header and decoded body (when err is 0 and a body was expected).
    Reply(ReplyHeader, Option<Response>),
    /// A watch notification.
    Event(WatcherEvent),
    /// The server closed the connection.
    Closed,
    /// Nothing within the wait.
    Silence,
}

/// A raw connection with an established session.
pub struct RawConn {
    stream: TcpStream,
    buf: BytesMut,
    /// The session id.
    pub session_id: i64,
    /// The negotiated timeout.
    pub timeout: i32,
    next_xid: i32,
}

impl RawConn {
    /// Connects and creates a session.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
        let mut out = BytesMut::new();
        write_frame(&mut out, |b| ConnectRequest::new_session(4000).encode(b));
        stream.write_all(&out).await.expect("write connect");
        let mut conn = RawConn {
            stream,
            buf: BytesMut::new(),
            session_id: 0,
            timeout: 0,
            next_xid: 1,
        };
        let mut frame = conn
            .frame(Duration::from_secs(10))
            .await
            .expect("connect response");
        let resp = ConnectResponse::decode(&mut frame).expect("decode connect response");
        conn.session_id = resp.session_id;
        conn.timeout = resp.timeout;
        conn
    }

    /// Reads the next frame, `None` on close or after `wait`.
    pub async fn frame(&mut self, wait: Duration) -> Option<Bytes> {
        let decoder = FrameDecoder::default();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(Some(f)) = decoder.decode(&mut self.buf) {
                return Some(f);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Sends a frame with header `xid`/`opcode` and a raw body.
    pub async fn send_raw(&mut self, xid: i32, opcode: i32, body: &[u8]) {
        let mut out = BytesMut::new();
        write_frame(&mut out, |b| {
            RequestHeader { xid, opcode }.encode(b);
            b.extend_from_slice(body);
        });
        self.send_bytes(&out).await;
    }

    /// Sends a request and returns its xid.
    pub async fn send(&mut self, request: &Request) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        let mut body = Vec::new();
        request.encode_body(&mut body);
        self.send_raw(xid, request.opcode().code(), &body).await;
        xid
    }

    /// Sends a request and waits for what comes back (events first, if any).
    pub async fn call(&mut self, request: &Request) -> Reply {
        self.send(request).await;
        self.next(request.opcode()).await
    }

    /// The next thing the server sends, decoding a reply body as for `opcode`.
    pub async fn next(&mut self, opcode: OpCode) -> Reply {
        self.next_within(opcode, Duration::from_secs(5)).await
    }

    /// Like [`RawConn::next`] with a custom wait (silence is reported as such).
    pub async fn next_within(&mut self, opcode: OpCode, wait: Duration) -> Reply {
        let Some(mut frame) = self.frame(wait).await else {
            return if self.is_closed().await {
                Reply::Closed
            } else {
                Reply::Silence
            };
        };
        let header = match ReplyHeader::decode(&mut frame) {
            Ok(h) => h,
            Err(_) => return Reply::Closed,
        };
        if header.xid == -1 {
            return WatcherEvent::decode(&mut frame).map_or(Reply::Closed, Reply::Event);
        }
        let body = if header.err == 0 {
            Response::decode_body(opcode, &mut frame).ok()
        } else {
            None
        };
        Reply::Reply(header, body)
    }

    /// Whether the server has closed the connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(300), self.stream.peek(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) | Err(_) => false,
        }
    }
}

/// A reply rendered for comparison: `err`, zxid and body; `xid` left out (it is ours).
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Reply(h, body) => format!(
            "err={} zxid={:#x} body={}",
            h.err,
            h.zxid,
            render_body(body)
        ),
        Reply::Event(e) => format!(
            "event type={} state={} path={}",
            e.event_type, e.state, e.path
        ),
        Reply::Closed => "closed".to_owned(),
        Reply::Silence => "silence".to_owned(),
    }
}

fn render_body(body: &Option<Response>) -> String {
    match body {
        None => "-".to_owned(),
        Some(Response::Create2(r)) => format!("create2({}, {})", r.path, crate::stat(&r.stat, 0)),
        Some(Response::Stat(s)) => format!("stat({})", crate::stat(s, 0)),
        Some(Response::GetData(r)) => format!(
            "data({:?}, {})",
            r.data.as_deref().map(String::from_utf8_lossy),
            crate::stat(&r.stat, 0)
        ),
        Some(Response::Multi(m)) => format!(
            "multi[{}]",
            m.results
                .iter()
                .map(|r| match r {
                    // Apache 3.8.0 answers create2 inside multi as create (ZOOKEEPER-4026,
                    // fixed in 3.8.2); compare only the path.
                    zk_proto::MultiResult::Create(p) => format!("create({p})"),
                    zk_proto::MultiResult::Create2 { path, .. } => format!("create({path})"),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(other) => format!("{other:?}"),
    }
}

/// Extra checks on a raw connection.
#[allow(async_fn_in_trait)]
pub trait RawConnExt {
    /// Whether the server closed the connection without sending anything first.
    async fn closed_without_reply(&mut self) -> bool;
}

impl RawConnExt for RawConn {
    async fn closed_without_reply(&mut self) -> bool {
        matches!(
            self.next_within(OpCode::Ping, Duration::from_secs(5)).await,
            Reply::Closed
        )
    }
}
