//! Decodes arbitrary bytes as a client request frame, exactly as the server does: header,
//! opcode, body. Must never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zk_proto::{Decode, OpCode, Request, RequestHeader};

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    if let Ok(header) = RequestHeader::decode(&mut buf) {
        if let Ok(opcode) = OpCode::from_code(header.opcode) {
            let _ = Request::decode_body(opcode, &mut buf);
        }
    }
    let _ = zk_proto::ConnectRequest::decode(&mut &data[..]);
});
