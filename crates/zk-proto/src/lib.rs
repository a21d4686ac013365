//! The Apache ZooKeeper client wire format, shared by the zkmesh client and server.
//!
//! Pure code: no I/O, no clock, no tokio. It owns
//! - the jute primitive encodings and the [`Encode`]/[`Decode`] traits ([`codec`]),
//! - every client-port record of `zookeeper.jute`, one family per module
//!   ([`connect`], [`header`], [`ops`], [`stat`], [`acl`], [`event`], [`multi`]),
//! - opcode and error-code enums with their wire numbers ([`OpCode`], [`ErrorCode`]),
//! - dispatch of bodies by opcode ([`Request`], [`Response`]),
//! - length-prefixed framing with a maximum frame size checked before allocating ([`frame`]),
//! - Apache's path rules ([`path`]) and digest ids ([`digest`]),
//! - SASL: the DIGEST-MD5 mechanism, client and server, as sans-IO state machines ([`sasl`]).
//!
//! Decoding arbitrary bytes never panics and never allocates beyond the frame it reads:
//! every length and count is checked against the bytes left before anything is reserved.
//!
//! # Example
//! ```
//! use bytes::BytesMut;
//! use zk_proto::{frame::{write_frame, FrameDecoder}, ops::PathWatchRequest, Encode, OpCode,
//!                Request, RequestHeader, Decode};
//!
//! let mut wire = BytesMut::new();
//! write_frame(&mut wire, |b| {
//!     RequestHeader { xid: 1, opcode: OpCode::GetData.code() }.encode(b);
//!     Request::GetData(PathWatchRequest { path: "/a".into(), watch: true }).encode_body(b);
//! });
//! let mut body = FrameDecoder::default().decode(&mut wire).unwrap().unwrap();
//! let header = RequestHeader::decode(&mut body).unwrap();
//! let req = Request::decode_body(OpCode::from_code(header.opcode).unwrap(), &mut body).unwrap();
//! assert!(matches!(req, Request::GetData(r) if r.path == "/a" && r.watch));
//! ```
//!
//! Dependencies beyond `bytes`/`thiserror`: `sha1` and `base64` (RustCrypto and the
//! standard base64 crate) compute digest ids exactly as Apache's
//! `DigestAuthenticationProvider` does; writing our own SHA-1 would buy nothing. `md-5`
//! (RustCrypto, the same `digest` traits as `sha1`) is the hash DIGEST-MD5 is defined on, and
//! `rand` draws its nonces and cnonces.

#![warn(missing_docs)]

pub mod acl;
pub mod codec;
pub mod connect;
pub mod create_mode;
pub mod digest;
pub mod error_code;
pub mod event;
pub mod frame;
pub mod header;
pub mod multi;
pub mod opcode;
pub mod ops;
pub mod path;
mod record;
pub mod request;
pub mod sasl;
pub mod stat;

pub use acl::{perms, Acl, ClientInfo, Id};
pub use codec::{Decode, DecodeError, DecodeResult, Encode};
pub use connect::{ConnectRequest, ConnectResponse};
pub use create_mode::CreateMode;
pub use error_code::ErrorCode;
pub use event::{AddWatchMode, EventType, WatcherEvent, WatcherType};
pub use header::{ReplyHeader, RequestHeader};
pub use multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
pub use opcode::OpCode;
pub use request::{Request, Response};
pub use stat::Stat;
