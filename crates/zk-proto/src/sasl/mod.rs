//! SASL for the client port: the `sasl` (102) records, the DIGEST-MD5 mechanism that
//! Apache ZooKeeper offers without Kerberos, and the client's side of GSSAPI (Kerberos).
//!
//! Owns: the DIGEST-MD5 state machines for both ends ([`digest_md5`]) and the token
//! directive syntax they share (private); the GSSAPI client state machine over an abstract
//! GSS-API context ([`gssapi`]); and the JAAS file syntax ([`jaas`]) both ends read their
//! credentials from. The wire record is one opaque token each way,
//! [`SaslPacket`] (jute's `GetSASLRequest` and `SetSASLResponse`, aliased below).
//!
//! # Exchange on the wire (Apache 3.8 `ZooKeeperSaslClient`, `ZooKeeperServer.processSasl`)
//! After the ConnectResponse, before any other request, the client sends `sasl` requests
//! with ordinary xids, each holding the mechanism's next token, and the server answers each
//! with a reply of the same xid holding its token:
//! 1. client: empty token; server: the challenge (`realm`, `nonce`, `qop`, …);
//! 2. client: the digest response; server: `rspauth=…`, or error `AuthFailed` (-115, or
//!    `SessionClosedRequireSaslAuth` -124 when the server requires SASL) with a null token,
//!    after which it closes the connection.

pub mod digest_md5;
mod directives;
pub mod gssapi;
pub mod jaas;

pub use crate::ops::SaslPacket;
pub use digest_md5::{
    ClientStep, DigestMd5Client, DigestMd5Config, DigestMd5Error, DigestMd5Server, PasswordLookup,
    ServerStep, MAX_TOKEN,
};
pub use gssapi::{GssInitiator, GssapiClient, GssapiError};

/// jute `GetSASLRequest`: the client's token.
pub type GetSaslRequest = SaslPacket;
/// jute `SetSASLResponse`: the server's token.
pub type SetSaslResponse = SaslPacket;
