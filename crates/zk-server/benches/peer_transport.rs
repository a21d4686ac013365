//! Which transport between members: our own framing over TCP, or tonic gRPC?
//!
//! The exchange that matters is a leader's broadcast: a stream of PROPOSALs (a create
//! with a 100-byte value, as encoded for the wire) to a learner, which answers with
//! cumulative ACKs. Both variants carry the same bytes over loopback in the same run:
//! - **framed TCP**: one connection; frames coalesced into one write per batch; the
//!   learner acks once per read batch (what `ensemble::transport` does);
//! - **tonic**: one bidirectional gRPC stream (HTTP/2), one gRPC message per proposal,
//!   one ack message per read batch likewise, with a pass-through bytes codec (so no
//!   protobuf cost is counted against gRPC).
//!
//! Printed: proposals per second, and CPU per proposal for the whole process (both ends).
//! `cargo bench -p zk-server --bench peer_transport` (`ZK_BENCH_PROPOSALS`, default 300000).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use zk_testkit::process_cpu_time;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use zk_proto::frame::FrameDecoder;
use zk_server::txn::{Txn, TxnHeader};
use zk_server::zab::message::{QuorumMsg, WireMsg};

fn proposal(i: u64) -> Bytes {
    let msg = QuorumMsg::Proposal {
        header: TxnHeader {
            session_id: 0x0100_0000_0000_0001,
            cxid: i as i32,
            zxid: (1 << 32) | (i as i64 + 1),
            time: 1_700_000_000_000,
        },
        txn: Txn::Create {
            path: format!("/bench/n-{i:010}"),
            data: Some(Bytes::from_static(&[b'v'; 100])),
            acl: zk_proto::Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: i as i32,
        },
    };
    let mut out = BytesMut::new();
    msg.encode_frame(&mut out);
    out.freeze()
}

fn ack(zxid: i64) -> Bytes {
    let mut out = BytesMut::new();
    QuorumMsg::Ack { zxid }.encode_frame(&mut out);
    out.freeze()
}

/// The zxid of the last proposal in a batch of frames (decoding each, as a learner does).
fn last_zxid(frames: &FrameDecoder, buf: &mut BytesMut) -> Option<i64> {
    let mut last = None;
    while let Ok(Some(frame)) = frames.decode(buf) {
        if let Ok(WireMsg::Msg(QuorumMsg::Proposal { header, .. })) = WireMsg::decode_body(frame) {
            last = Some(header.zxid);
        }
    }
    last
}

async fn framed_tcp(n: u64) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The learner: read proposals, ack the last of each read.
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.set_nodelay(true).ok();
        let frames = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        while s.read_buf(&mut buf).await.is_ok_and(|r| r > 0) {
            if let Some(z) = last_zxid(&frames, &mut buf) {
                if s.write_all(&ack(z)).await.is_err() {
                    return;
                }
            }
        }
    });
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let (mut r, mut w) = stream.into_split();
    let target = (1i64 << 32) | n as i64;
    let reader = tokio::spawn(async move {
        let frames = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::new();
        loop {
            if r.read_buf(&mut buf).await.map_or(true, |r| r == 0) {
                return;
            }
            while let Ok(Some(mut frame)) = frames.decode(&mut buf) {
                frame.advance(1);
                if frame.remaining() >= 8 && frame.get_i64() >= target {
                    return;
                }
            }
        }
    });
    // The leader: proposals coalesced into writes of up to 64 KiB.
    let mut out = BytesMut::with_capacity(64 * 1024);
    for i in 0..n {
        out.put_slice(&proposal(i));
        if out.len() >= 64 * 1024 {
            w.write_all(&out).await.expect("write");
            out.clear();
        }
    }
    w.write_all(&out).await.expect("write");
    reader.await.expect("acks");
    (t0.elapsed(), process_cpu_time() - cpu0)
}

/// A codec that passes bytes through: gRPC framing without protobuf.
#[derive(Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<Bytes, tonic::Status>> + Send>>;

/// The learner's side as a gRPC service: a stream of proposals in, acks out.
#[derive(Clone)]
struct Learner;

impl tonic::server::StreamingService<Bytes> for Learner {
    type Response = Bytes;
    type ResponseStream = AckStream;
    type Future = std::future::Ready<Result<tonic::Response<AckStream>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<tonic::Streaming<Bytes>>) -> Self::Future {
        let mut incoming = request.into_inner();
        let acks = async_stream(
            move |tx: mpsc::Sender<Result<Bytes, tonic::Status>>| async move {
                let frames = FrameDecoder::new(1 << 20);
                let mut buf = BytesMut::new();
                while let Some(Ok(msg)) = incoming.next().await {
                    buf.put_slice(&msg);
                    // Ack once per batch the stream has ready.
                    while let Some(Some(Ok(more))) = incoming.next().now_or_never() {
                        buf.put_slice(&more);
                    }
                    if let Some(z) = last_zxid(&frames, &mut buf) {
                        if tx.send(Ok(ack(z))).await.is_err() {
                            return;
                        }
                    }
                }
            },
        );
        std::future::ready(Ok(tonic::Response::new(acks)))
    }
}

/// A stream fed by a task (no extra crate for it).
fn async_stream<F, Fut>(f: F) -> AckStream
where
    F: FnOnce(mpsc::Sender<Result<Bytes, tonic::Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(f(tx));
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

use futures::FutureExt;

impl tower::Service<http::Request<tonic::body::Body>> for Learner {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(Raw);
            Ok(grpc.streaming(Learner, req).await)
        })
    }
}

impl tonic::server::NamedService for Learner {
    const NAME: &'static str = "zab.Peer";
}

async fn tonic_stream(n: u64) -> (Duration, Duration) {
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
    let addr = incoming.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Learner)
            .serve_with_incoming(incoming),
    );
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let (tx, rx) = mpsc::channel::<Bytes>(4096);
    tokio::spawn(async move {
        for i in 0..n {
            if tx.send(proposal(i)).await.is_err() {
                return;
            }
        }
    });
    let outbound =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let response = grpc
        .streaming(
            tonic::Request::new(outbound),
            http::uri::PathAndQuery::from_static("/zab.Peer/Link"),
            Raw,
        )
        .await
        .expect("stream");
    let mut acks = response.into_inner();
    let target = (1i64 << 32) | n as i64;
    while let Some(Ok(mut a)) = acks.next().await {
        a.advance(5);
        if a.remaining() >= 8 && a.get_i64() >= target {
            break;
        }
    }
    (t0.elapsed(), process_cpu_time() - cpu0)
}

fn main() {
    let n: u64 = std::env::var("ZK_BENCH_PROPOSALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("peer transport: {n} proposals (create, 100-byte value) leader -> learner over loopback, cumulative acks back");
    println!(
        "{:<12} {:>5} {:>14} {:>16}",
        "transport", "run", "proposals/s", "CPU µs/proposal"
    );
    for run in 1..=3 {
        for (name, result) in [
            ("framed TCP", rt.block_on(framed_tcp(n))),
            ("tonic gRPC", rt.block_on(tonic_stream(n))),
        ] {
            let (wall, cpu) = result;
            println!(
                "{:<12} {:>5} {:>14.0} {:>16.2}",
                name,
                run,
                n as f64 / wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / n as f64
            );
        }
    }
}
