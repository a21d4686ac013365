//! Bad input never disturbs anyone else: garbage, truncated and oversized frames, random
//! opcodes and hostile counts are thrown at a running zk-server while a well-behaved
//! client keeps working.

use std::time::Duration;

use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{CreateMode, CreateOptions};
use zk_proto::frame::write_frame;
use zk_proto::{ConnectRequest, Encode, RequestHeader};
use zk_server::ServerHandle;
use zkmesh_tests::{within, RawConnExt};

async fn attacker(addr: std::net::SocketAddr, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..40 {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            continue;
        };
        let mut out = BytesMut::new();
        match round % 6 {
            // Pure garbage.
            0 => out.extend((0..rng.gen_range(1..4096)).map(|_| rng.gen::<u8>())),
            // A length prefix far over the maximum, then a little data.
            1 => {
                out.extend_from_slice(&0x7fff_fff0i32.to_be_bytes());
                out.extend_from_slice(&[1, 2, 3]);
            }
            // A negative length.
            2 => out.extend_from_slice(&(-7i32).to_be_bytes()),
            // A valid handshake, then random frames with random opcodes and bodies.
            3 | 4 => {
                write_frame(&mut out, |b| ConnectRequest::new_session(4000).encode(b));
                for xid in 1..rng.gen_range(2..30) {
                    let opcode = if rng.gen_bool(0.7) {
                        *[
                            1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 19, 21, 22, 101, 103, 105, 106,
                        ]
                        .get(rng.gen_range(0..19))
                        .unwrap_or(&4)
                    } else {
                        rng.gen_range(-20..200)
                    };
                    let len = rng.gen_range(0..200);
                    let body: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                    write_frame(&mut out, |b| {
                        RequestHeader { xid, opcode }.encode(b);
                        b.extend_from_slice(&body);
                    });
                }
            }
            // A truncated frame, then the connection just closes.
            _ => {
                out.extend_from_slice(&100i32.to_be_bytes());
                out.extend_from_slice(&[0; 10]);
            }
        }
        let _ = stream.write_all(&out).await;
        let mut sink = vec![0u8; 64 * 1024];
        // Read whatever comes back until the server closes or goes quiet.
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(50), stream.read(&mut sink)).await
        {
            if n == 0 {
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_some_connections_never_disturbs_a_well_behaved_client() {
    zkmesh_tests::init_tracing();
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let addr = server.addr();
    let client = zk_client::Client::connect(&server.connect_string())
        .await
        .unwrap();
    client
        .create("/ok", b"", &CreateOptions::persistent())
        .await
        .unwrap();

    let attackers: Vec<_> = (0..4)
        .map(|seed| tokio::spawn(attacker(addr, seed)))
        .collect();
    let seq = CreateOptions::new(CreateMode::PersistentSequential);
    for i in 0..300u32 {
        let (path, _) = within("create", client.create("/ok/n-", &i.to_be_bytes(), &seq))
            .await
            .expect("well-behaved create");
        let (data, _) = within("get", client.get_data(&path))
            .await
            .expect("well-behaved get");
        assert_eq!(&data[..], &i.to_be_bytes());
    }
    for a in attackers {
        within("attacker", a).await.unwrap();
    }
    assert_eq!(client.get_all_children_number("/ok").await.unwrap(), 300);
    let snapshot = server.snapshot().await.unwrap();
    assert!(snapshot.stats.bad_input > 0, "{snapshot:?}");
    // The server still takes new clients.
    let late = zk_client::Client::connect(&server.connect_string())
        .await
        .unwrap();
    assert!(late.exists("/ok").await.unwrap().is_some());
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_connection_without_a_reply() {
    let server = ServerHandle::builder()
        .port(0)
        .max_frame(1024)
        .start()
        .await
        .unwrap();
    let mut raw = zkmesh_tests::raw::RawConn::connect(server.addr()).await;
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&2048i32.to_be_bytes());
    frame.extend_from_slice(&[0u8; 16]);
    raw.send_bytes(&frame).await;
    assert!(raw.closed_without_reply().await);
    let client = zk_client::Client::connect(&server.connect_string())
        .await
        .unwrap();
    assert!(client.exists("/").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_not_buffered_forever() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let good = zk_client::Client::connect(&server.connect_string())
        .await
        .unwrap();
    let big = vec![7u8; 1000 * 1024];
    good.create("/big", &big, &CreateOptions::persistent())
        .await
        .unwrap();
    // A raw client asks for the 1 MB node 200 times and reads nothing back.
    let mut raw = zkmesh_tests::raw::RawConn::connect(server.addr()).await;
    for _ in 0..200 {
        raw.send(&zk_proto::Request::GetData(
            zk_proto::ops::PathWatchRequest {
                path: "/big".into(),
                watch: false,
            },
        ))
        .await;
    }
    within("slow reader dropped", async {
        while server.snapshot().await.unwrap().connections > 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(good.get_data("/big").await.unwrap().0.len(), big.len());
}

#[tokio::test]
async fn connections_that_never_finish_the_handshake_are_closed() {
    let server = ServerHandle::builder()
        .port(0)
        .handshake_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let mut partial = TcpStream::connect(server.addr()).await.unwrap();
    partial.write_all(&[0, 0, 0, 45, 0, 0]).await.unwrap();
    for s in [&mut silent, &mut partial] {
        let mut buf = [0u8; 16];
        let n = within("closed", s.read(&mut buf)).await.unwrap_or(0);
        assert_eq!(n, 0, "expected the server to close the connection");
    }
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let server = ServerHandle::builder()
        .port(0)
        .max_client_connections(3)
        .start()
        .await
        .unwrap();
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(
            zk_client::Client::connect(&server.connect_string())
                .await
                .unwrap(),
        );
    }
    let refused = zk_client::Client::builder()
        .establish_timeout(Duration::from_millis(800))
        .connect(&server.connect_string())
        .await;
    assert!(refused.is_err());
    drop(kept.pop());
    within("a slot frees up", async {
        loop {
            let r = zk_client::Client::builder()
                .establish_timeout(Duration::from_millis(500))
                .connect(&server.connect_string())
                .await;
            if r.is_ok() {
                break;
            }
        }
    })
    .await;
}
