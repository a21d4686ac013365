//! Digest auth ids: `user:base64(sha1("user:password"))`, as Apache's
//! `DigestAuthenticationProvider.generateDigest` computes them.

use base64::Engine;
use sha1::{Digest, Sha1};

/// The digest id for `user:password` credentials, to put in an ACL with scheme `digest`.
///
/// ```
/// assert_eq!(zk_proto::digest::digest_id("alice:secret"), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
/// ```
pub fn digest_id(credentials: &str) -> String {
    let user = credentials.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(credentials.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}
