//! Tests for the fault-injecting TCP proxy against a local echo server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use zk_testkit::FaultProxy;

const WAIT: Duration = Duration::from_secs(5);

/// An echo server that prefixes nothing, or `tag` to each echoed chunk.
async fn echo_server(tag: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let mut out = tag.to_vec();
                            out.extend_from_slice(&buf[..n]);
                            if s.write_all(&out).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
    buf.truncate(n);
    buf
}

/// True once the peer has closed or reset `s`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        timeout(limit, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn forwards_bytes_both_ways() {
    let echo = echo_server(b"").await;
    let proxy = FaultProxy::start(echo).await.unwrap();
    assert_eq!(proxy.target(), echo);
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c, b"hello").await, b"hello");
    assert_eq!(round_trip(&mut c, b"again").await, b"again");
    assert_eq!(proxy.connections_accepted(), 1);
}

#[tokio::test]
async fn drop_connections_closes_the_client() {
    let echo = echo_server(b"").await;
    let proxy = FaultProxy::start(echo).await.unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c, b"ping").await, b"ping");
    proxy.drop_connections();
    assert!(closed_within(&mut c, WAIT).await);
    // New connections work again.
    let mut c2 = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c2, b"pong").await, b"pong");
    assert_eq!(proxy.connections_accepted(), 2);
}

#[tokio::test]
async fn pause_black_holes_until_resume() {
    let echo = echo_server(b"").await;
    let proxy = FaultProxy::start(echo).await.unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c, b"before").await, b"before");

    proxy.pause();
    c.write_all(b"held").await.unwrap();
    let mut buf = [0u8; 16];
    assert!(
        timeout(Duration::from_millis(300), c.read(&mut buf))
            .await
            .is_err(),
        "bytes crossed a paused proxy"
    );
    // A connection made during the pause is accepted but gets nothing either.
    let mut c2 = TcpStream::connect(proxy.addr()).await.unwrap();
    c2.write_all(b"late").await.unwrap();
    assert!(timeout(Duration::from_millis(200), c2.read(&mut buf))
        .await
        .is_err());

    proxy.resume();
    let n = timeout(WAIT, c.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"held");
    let n = timeout(WAIT, c2.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"late");
}

#[tokio::test]
async fn refuse_closes_new_connections() {
    let echo = echo_server(b"").await;
    let proxy = FaultProxy::start(echo).await.unwrap();
    let mut existing = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut existing, b"a").await, b"a");

    proxy.refuse(true);
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(closed_within(&mut c, WAIT).await);
    assert_eq!(proxy.connections_accepted(), 2);
    // Connections accepted before the refusal are unaffected.
    assert_eq!(round_trip(&mut existing, b"b").await, b"b");

    proxy.refuse(false);
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c, b"c").await, b"c");
}

#[tokio::test]
async fn retarget_applies_to_new_connections() {
    let first = echo_server(b"1:").await;
    let second = echo_server(b"2:").await;
    let proxy = FaultProxy::start(first).await.unwrap();
    let mut old = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut old, b"x").await, b"1:x");

    proxy.retarget(second);
    assert_eq!(proxy.target(), second);
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut new, b"y").await, b"2:y");
    assert_eq!(round_trip(&mut old, b"z").await, b"1:z");
}

#[tokio::test]
async fn unreachable_target_closes_the_client() {
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let proxy = FaultProxy::start(gone).await.unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(closed_within(&mut c, WAIT).await);
}

#[tokio::test]
async fn delay_slows_each_chunk() {
    let echo = echo_server(b"").await;
    let proxy = FaultProxy::start(echo).await.unwrap();
    proxy.set_delay(Duration::from_millis(150));
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    let t = Instant::now();
    assert_eq!(round_trip(&mut c, b"slow").await, b"slow");
    // One chunk each way, each delayed.
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    proxy.set_delay(Duration::ZERO);
    let t = Instant::now();
    assert_eq!(round_trip(&mut c, b"fast").await, b"fast");
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn dropping_the_proxy_closes_everything() {
    let echo = echo_server(b"").await;
    let proxy = FaultProxy::start(echo).await.unwrap();
    let addr = proxy.addr();
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut c, b"bye").await, b"bye");
    drop(proxy);
    assert!(closed_within(&mut c, WAIT).await);
    assert!(TcpStream::connect(addr).await.is_err());
}
