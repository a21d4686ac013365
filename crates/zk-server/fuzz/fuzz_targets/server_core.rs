//! Feeds arbitrary frames to a server core after a valid handshake, as a hostile client
//! would: the core must never panic and must keep its tree consistent.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zk_proto::frame::write_frame;
use zk_proto::{ConnectRequest, Encode};
use zk_server::core::{CoreConfig, Now, ServerCore};
use zk_server::tree::DataTree;

fuzz_target!(|data: &[u8]| {
    let now = Now::system();
    let mut core = ServerCore::new(CoreConfig::default(), DataTree::new(), now);
    core.accept(1, "127.0.0.1:1".parse().unwrap(), now);
    let mut hs = BytesMut::new();
    write_frame(&mut hs, |b| {
        ConnectRequest::new_session(4000)
        .encode(b)
    });
    core.receive(1, Bytes::copy_from_slice(&hs[4..]), now);
    // The input is a sequence of frames: one length byte, then that many bytes.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        core.receive(1, Bytes::copy_from_slice(&tail[..n]), now);
        rest = &tail[n..];
        while core.poll_output().is_some() {}
    }
    core.tick(now);
});
