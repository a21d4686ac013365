//! SASL DIGEST-MD5 on an in-process server, as Apache 3.8 with a JAAS `Server` section
//! and `SASLAuthenticationProvider`: a client authenticates and gets `sasl:<user>`, sasl
//! ACLs admit that user only, a wrong password or a garbled exchange is answered
//! AuthFailed (-115) and the connection closed without disturbing anyone else, and a
//! server enforcing SASL refuses the requests of unauthenticated connections (-124).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{perms, Acl, Client, CreateOptions, Error, Id, SaslOptions};
use zk_proto::frame::{write_frame, FrameDecoder};
use zk_proto::ops::SaslPacket;
use zk_proto::{ConnectRequest, Decode, Encode, OpCode, ReplyHeader, RequestHeader};
use zk_server::{SaslSettings, ServerHandle};

const WAIT: Duration = Duration::from_secs(10);

fn users() -> SaslSettings {
    SaslSettings::digest_md5([("alice", "secret"), ("bob", "pw")])
}

async fn server(sasl: SaslSettings, enforce: bool) -> ServerHandle {
    let mut b = ServerHandle::builder().port(0).sasl(sasl);
    if enforce {
        b = b.enforce_auth(vec!["sasl".into()]);
    }
    b.start().await.expect("start zk-server")
}

async fn connect(server: &ServerHandle, sasl: Option<SaslOptions>) -> zk_client::Result<Client> {
    let mut b = Client::builder()
        .session_timeout(Duration::from_secs(6))
        .establish_timeout(WAIT);
    if let Some(sasl) = sasl {
        b = b.sasl(sasl);
    }
    tokio::time::timeout(WAIT, b.connect(&server.connect_string()))
        .await
        .expect("connect finishes in time")
}

fn only(user: &str) -> CreateOptions {
    CreateOptions::persistent().with_acl(vec![Acl::new(perms::ALL, Id::new("sasl", user))])
}

#[tokio::test]
async fn an_authenticated_user_owns_its_sasl_acl_and_others_are_refused() {
    let s = server(users(), false).await;
    let alice = connect(&s, Some(SaslOptions::digest_md5("alice", "secret")))
        .await
        .expect("alice authenticates");
    let me = alice.whoami().await.expect("whoami");
    assert!(
        me.iter()
            .any(|i| i.auth_scheme == "sasl" && i.user == "alice"),
        "{me:?}"
    );
    alice
        .create("/alice", b"hers", &only("alice"))
        .await
        .unwrap();
    assert_eq!(&alice.get_data("/alice").await.unwrap().0[..], b"hers");
    // `auth` expands to the connection's sasl id.
    let creator = CreateOptions::persistent().with_acl(Acl::creator_all());
    alice.create("/mine", b"", &creator).await.unwrap();
    assert_eq!(
        alice.get_acl("/mine").await.unwrap().0,
        vec![Acl::new(perms::ALL, Id::new("sasl", "alice"))]
    );

    let bob = connect(&s, Some(SaslOptions::digest_md5("bob", "pw")))
        .await
        .expect("bob authenticates");
    assert_eq!(bob.get_data("/alice").await, Err(Error::NoAuth));
    let anyone = connect(&s, None).await.expect("plain client");
    assert_eq!(anyone.get_data("/alice").await, Err(Error::NoAuth));
    // A sasl name Kerberos' syntax cannot parse is not a valid ACL.
    assert_eq!(
        alice.create("/bad", b"", &only("a@b@c")).await,
        Err(Error::InvalidAcl)
    );
}

#[tokio::test]
async fn the_super_user_may_do_anything() {
    let s = server(users().super_user("bob"), false).await;
    let alice = connect(&s, Some(SaslOptions::digest_md5("alice", "secret")))
        .await
        .unwrap();
    alice.create("/alice", b"", &only("alice")).await.unwrap();
    let bob = connect(&s, Some(SaslOptions::digest_md5("bob", "pw")))
        .await
        .unwrap();
    assert!(bob.get_data("/alice").await.is_ok());
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_auth_failed() {
    let s = server(users(), false).await;
    let wrong = connect(&s, Some(SaslOptions::digest_md5("alice", "wrong"))).await;
    assert!(matches!(wrong, Err(Error::AuthFailed)), "{wrong:?}");
    let unknown = connect(&s, Some(SaslOptions::digest_md5("mallory", "secret"))).await;
    assert!(matches!(unknown, Err(Error::AuthFailed)), "{unknown:?}");
}

#[tokio::test]
async fn a_server_requiring_sasl_refuses_unauthenticated_requests_with_124() {
    let s = server(users(), true).await;
    let anyone = connect(&s, None).await.expect("the session is created");
    assert_eq!(
        anyone.exists("/").await.map(|_| ()),
        Err(Error::SessionClosedRequireSaslAuth)
    );
    let alice = connect(&s, Some(SaslOptions::digest_md5("alice", "secret")))
        .await
        .expect("alice authenticates");
    assert!(alice.exists("/").await.unwrap().is_some());
    let wrong = connect(&s, Some(SaslOptions::digest_md5("alice", "wrong"))).await;
    assert!(
        matches!(
            wrong,
            Err(Error::AuthFailed | Error::SessionClosedRequireSaslAuth)
        ),
        "{wrong:?}"
    );

    let mut raw = Raw::connect(s.addr()).await;
    raw.send(5, OpCode::Exists.code(), b"\0\0\0\x01/\0").await;
    let (header, _) = raw.reply().await.expect("a reply before the close");
    assert_eq!((header.xid, header.zxid, header.err), (5, 0, -124));
    assert!(raw.closed().await);
}

#[tokio::test]
async fn a_garbled_exchange_is_refused_and_closed_while_others_carry_on() {
    let s = server(users(), false).await;
    let bystander = connect(&s, Some(SaslOptions::digest_md5("bob", "pw")))
        .await
        .unwrap();

    // A first token must be empty (DIGEST-MD5 has no initial response).
    let mut raw = Raw::connect(s.addr()).await;
    raw.sasl(7, Some(b"username=\"x\",garbage")).await;
    let (header, token) = raw.reply().await.expect("a reply before the close");
    assert_eq!((header.xid, header.zxid, header.err), (7, 0, -115));
    assert_eq!(token, Some(None), "AuthFailed carries a null token");
    assert!(raw.closed().await);

    // A challenge answered with nonsense.
    let mut raw = Raw::connect(s.addr()).await;
    raw.sasl(1, Some(b"")).await;
    let (header, token) = raw.reply().await.unwrap();
    assert_eq!(header.err, 0);
    assert!(token.flatten().is_some_and(|t| t.starts_with(b"realm=")));
    raw.sasl(2, Some(&[0xff; 300])).await;
    assert_eq!(raw.reply().await.unwrap().0.err, -115);
    assert!(raw.closed().await);

    // A body too short to hold a token: dropped without a reply, as Apache does.
    let mut raw = Raw::connect(s.addr()).await;
    raw.send(1, OpCode::Sasl.code(), b"\0\0").await;
    assert!(raw.closed().await);

    bystander
        .create("/still", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert!(bystander.exists("/still").await.unwrap().is_some());
}

#[tokio::test]
async fn without_sasl_configured_a_token_is_answered_empty() {
    let s = ServerHandle::builder().port(0).start().await.unwrap();
    let mut raw = Raw::connect(s.addr()).await;
    raw.sasl(3, Some(b"")).await;
    let (header, token) = raw.reply().await.unwrap();
    assert_eq!((header.xid, header.err), (3, 0));
    assert_eq!(token, Some(None));
    assert!(!raw.closed_within(Duration::from_millis(300)).await);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever sasl bodies arrive, the server answers or closes, and keeps serving.
    #[test]
    fn arbitrary_sasl_bodies_are_answered_or_closed(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let s = server(users(), false).await;
            let mut raw = Raw::connect(s.addr()).await;
            for (xid, body) in bodies.iter().enumerate() {
                raw.send(xid as i32 + 1, OpCode::Sasl.code(), body).await;
            }
            for _ in &bodies {
                match raw.reply().await {
                    Some((header, _)) if header.err != 0 => {
                        assert!(raw.closed().await);
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            let client = connect(&s, None).await.expect("the server still serves");
            client.exists("/").await.expect("and answers");
        });
    }
}

/// A raw client connection, for what well-behaved clients never send.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
        let mut out = BytesMut::new();
        write_frame(&mut out, |b| ConnectRequest::new_session(6000).encode(b));
        stream.write_all(&out).await.expect("send connect");
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
        };
        raw.frame().await.expect("connect response");
        raw
    }

    async fn send(&mut self, xid: i32, opcode: i32, body: &[u8]) {
        let mut out = BytesMut::new();
        write_frame(&mut out, |b| {
            RequestHeader { xid, opcode }.encode(b);
            b.extend_from_slice(body);
        });
        // The server may have closed already; the reply read says so.
        let _ = self.stream.write_all(&out).await;
    }

    async fn sasl(&mut self, xid: i32, token: Option<&[u8]>) {
        let mut body = Vec::new();
        SaslPacket {
            token: token.map(Bytes::copy_from_slice),
        }
        .encode(&mut body);
        self.send(xid, OpCode::Sasl.code(), &body).await;
    }

    async fn frame(&mut self) -> Option<Bytes> {
        let decoder = FrameDecoder::default();
        let read = async {
            loop {
                if let Ok(Some(f)) = decoder.decode(&mut self.buf) {
                    return Some(f);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a frame or a close in time")
    }

    /// The next reply's header and, if it has a body, its token (`Some(None)`: null).
    async fn reply(&mut self) -> Option<(ReplyHeader, Option<Option<Bytes>>)> {
        let mut frame = self.frame().await?;
        let header = ReplyHeader::decode(&mut frame).expect("reply header");
        let token =
            (!frame.is_empty()).then(|| SaslPacket::decode(&mut frame).expect("sasl body").token);
        Some((header, token))
    }

    async fn closed(&mut self) -> bool {
        self.frame().await.is_none()
    }

    async fn closed_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.frame())
            .await
            .is_ok_and(|f| f.is_none())
    }
}
