//! DIGEST-MD5 (RFC 2831) as Apache ZooKeeper uses it through Java's SASL: `qop=auth` only
//! (no integrity or confidentiality layer), `algorithm=md5-sess`, `charset=utf-8`, service
//! `zookeeper`, server name and realm `zk-sasl-md5`, so the digest-uri is
//! `zookeeper/zk-sasl-md5` ([`DigestMd5Config::default`]).
//!
//! Both ends, as sans-IO state machines fed one token at a time:
//! - [`DigestMd5Client`]: the client's first token is empty (DIGEST-MD5 has no initial
//!   response); [`DigestMd5Client::step`] turns the server's challenge into the digest
//!   response, then checks the server's `rspauth` and completes.
//! - [`DigestMd5Server`]: [`DigestMd5Server::evaluate_response`] answers the empty first
//!   token with a challenge, then checks the client's response against a password looked up
//!   through [`PasswordLookup`] and answers with `rspauth`, or fails with a typed
//!   [`DigestMd5Error`].
//!
//! Tokens are untrusted: anything over [`MAX_TOKEN`] bytes is refused before parsing, and
//! parsing never panics (see the module's property test).

use std::fmt;

use base64::Engine;
use md5::{Digest, Md5};

use super::directives::{self, push_quoted, Directive};

/// The largest token either side accepts. RFC 2831 caps challenges at 2 KiB and responses
/// at 4 KiB; this leaves room for long user names without letting a peer make us buffer
/// more.
pub const MAX_TOKEN: usize = 64 * 1024;

/// Apache ZooKeeper's DIGEST-MD5 realm and server name (hard-wired on both sides).
pub const ZK_SERVER_NAME: &str = "zk-sasl-md5";
/// Apache ZooKeeper's SASL service (protocol) name.
pub const ZK_SERVICE: &str = "zookeeper";

/// The nonce count of the one and only authentication of a connection.
const NONCE_COUNT: &str = "00000001";

/// Where a mechanism thinks it talks: the digest-uri is `service/server_name`, and the
/// server offers `server_name` as its realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestMd5Config {
    /// The service (Java's `protocol`), `zookeeper`.
    pub service: String,
    /// The server name, `zk-sasl-md5`; also the realm.
    pub server_name: String,
}

impl Default for DigestMd5Config {
    fn default() -> Self {
        Self {
            service: ZK_SERVICE.into(),
            server_name: ZK_SERVER_NAME.into(),
        }
    }
}

impl DigestMd5Config {
    /// `service/server_name`.
    pub fn digest_uri(&self) -> String {
        format!("{}/{}", self.service, self.server_name)
    }
}

/// Why an exchange failed. Every variant ends the exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestMd5Error {
    /// A token larger than [`MAX_TOKEN`].
    #[error("SASL token of {len} bytes exceeds the limit of {max}")]
    TokenTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not a directive list.
    #[error("malformed DIGEST-MD5 token at byte {offset}: {reason}")]
    Syntax {
        /// Where parsing stopped.
        offset: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A directive that may appear once appeared twice.
    #[error("directive {0} appears more than once")]
    DuplicateDirective(&'static str),
    /// A directive the step needs is absent.
    #[error("directive {0} is missing")]
    MissingDirective(&'static str),
    /// A directive has a value this implementation cannot accept.
    #[error("directive {name}: {reason}")]
    InvalidDirective {
        /// The directive.
        name: &'static str,
        /// What is wrong with its value.
        reason: &'static str,
    },
    /// The peer does not offer or use `qop=auth`.
    #[error("no acceptable qop: only auth is supported")]
    UnsupportedQop,
    /// A user name, realm or password with characters beyond ISO-8859-1 while the peer did
    /// not announce `charset=utf-8`.
    #[error("credentials are not representable without charset=utf-8")]
    CredentialsNotEncodable,
    /// The client's nonce is not the one the server issued.
    #[error("nonce does not match the challenge")]
    NonceMismatch,
    /// The client chose a realm the server did not offer.
    #[error("realm does not match the challenge")]
    RealmMismatch,
    /// The digest-uri names another service or server.
    #[error("digest-uri does not name this service")]
    DigestUriMismatch,
    /// The password lookup knows no such user.
    #[error("unknown user")]
    UnknownUser,
    /// The client's digest is wrong: a wrong password (or user name, or realm).
    #[error("digest response does not match: wrong credentials")]
    ResponseMismatch,
    /// The server's `rspauth` is wrong: it does not know the password.
    #[error("server's rspauth does not match: the server did not prove it knows the password")]
    ServerAuthMismatch,
    /// The client asked to act as someone else (`authzid`), which is not allowed here.
    #[error("authorization id differs from the user name")]
    AuthzidNotAllowed,
    /// The client's first token was not empty (DIGEST-MD5 has no initial response).
    #[error("DIGEST-MD5 has no initial response, but the first token was not empty")]
    InitialResponseNotEmpty,
    /// A token after the exchange completed or failed.
    #[error("unexpected token: the exchange is over")]
    UnexpectedToken,
}

/// What the client does after a server token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStep {
    /// Send this token to the server.
    Respond(Vec<u8>),
    /// The server proved it knows the password; authentication is complete.
    Complete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClientState {
    AwaitChallenge,
    AwaitRspauth { expected: String },
    Complete,
    Failed,
}

/// The client side of one DIGEST-MD5 exchange (module docs give the flow).
#[derive(Clone)]
pub struct DigestMd5Client {
    config: DigestMd5Config,
    username: String,
    password: String,
    cnonce: String,
    state: ClientState,
}

impl fmt::Debug for DigestMd5Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("DigestMd5Client")
            .field("username", &self.username)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl DigestMd5Client {
    /// A client for `username`/`password` against Apache ZooKeeper, with a random cnonce.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            config: DigestMd5Config::default(),
            username: username.into(),
            password: password.into(),
            cnonce: random_nonce(),
            state: ClientState::AwaitChallenge,
        }
    }

    /// Another service and server name (tests use RFC 2831's example).
    pub fn with_config(mut self, config: DigestMd5Config) -> Self {
        self.config = config;
        self
    }

    /// A fixed cnonce, for known-answer tests; real exchanges keep the random one.
    pub fn with_cnonce(mut self, cnonce: impl Into<String>) -> Self {
        self.cnonce = cnonce.into();
        self
    }

    /// The first token to send: empty, since DIGEST-MD5 has no initial response.
    pub fn initial_response(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Whether the server's `rspauth` has been verified.
    pub fn is_complete(&self) -> bool {
        self.state == ClientState::Complete
    }

    /// Feeds the server's next token: the challenge, then `rspauth`.
    ///
    /// # Errors
    /// Any [`DigestMd5Error`] about the token; the exchange is then over.
    pub fn step(&mut self, token: &[u8]) -> Result<ClientStep, DigestMd5Error> {
        let result = self.step_inner(token);
        if result.is_err() {
            self.state = ClientState::Failed;
        }
        result
    }

    fn step_inner(&mut self, token: &[u8]) -> Result<ClientStep, DigestMd5Error> {
        check_size(token)?;
        match &self.state {
            ClientState::AwaitChallenge => {
                let (response, expected) = self.respond(token)?;
                self.state = ClientState::AwaitRspauth { expected };
                Ok(ClientStep::Respond(response))
            }
            ClientState::AwaitRspauth { expected } => {
                let d = directives::parse(token)?;
                let rspauth = directives::required(&d, "rspauth")?;
                if !constant_time_eq_hex(rspauth, expected) {
                    return Err(DigestMd5Error::ServerAuthMismatch);
                }
                self.state = ClientState::Complete;
                Ok(ClientStep::Complete)
            }
            ClientState::Complete | ClientState::Failed => Err(DigestMd5Error::UnexpectedToken),
        }
    }

    /// The digest response to a challenge, and the `rspauth` the server must answer with.
    fn respond(&self, challenge: &[u8]) -> Result<(Vec<u8>, String), DigestMd5Error> {
        let d = directives::parse(challenge)?;
        let nonce = directives::required(&d, "nonce")?;
        if nonce.is_empty() {
            return Err(invalid("nonce", "empty"));
        }
        let qop_offered = directives::single(&d, "qop")?.unwrap_or("auth");
        if !qop_offered.split(',').any(|q| q.trim() == "auth") {
            return Err(DigestMd5Error::UnsupportedQop);
        }
        let utf8 = charset_is_utf8(&d)?;
        let algorithm = directives::required(&d, "algorithm")?;
        if !algorithm.eq_ignore_ascii_case("md5-sess") {
            return Err(invalid("algorithm", "only md5-sess is defined"));
        }
        if let Some(maxbuf) = directives::single(&d, "maxbuf")? {
            maxbuf
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(invalid("maxbuf", "not a positive number"))?;
        }
        // Several realms may be offered; take the first, as Java's callback does.
        let realm = d
            .iter()
            .find(|x| x.name == "realm")
            .map_or(self.config.server_name.as_str(), |x| x.value.as_str());
        let uri = self.config.digest_uri();
        let ha1 = hash_a1(
            &self.username,
            realm,
            &self.password,
            nonce,
            &self.cnonce,
            utf8,
            None,
        )?;
        let response = kd_hex(&ha1, nonce, &self.cnonce, &format!("AUTHENTICATE:{uri}"));
        let expected = kd_hex(&ha1, nonce, &self.cnonce, &format!(":{uri}"));

        let mut out = String::new();
        if utf8 {
            out.push_str("charset=utf-8,");
        }
        out.push_str("username=");
        push_quoted(&mut out, &self.username);
        out.push_str(",realm=");
        push_quoted(&mut out, realm);
        out.push_str(",nonce=");
        push_quoted(&mut out, nonce);
        out.push_str(&format!(",nc={NONCE_COUNT},cnonce="));
        push_quoted(&mut out, &self.cnonce);
        out.push_str(",digest-uri=");
        push_quoted(&mut out, &uri);
        out.push_str(&format!(",maxbuf=65536,response={response},qop=auth"));
        Ok((out.into_bytes(), expected))
    }
}

/// Where a [`DigestMd5Server`] finds passwords.
pub trait PasswordLookup {
    /// The password of `username`, if the user exists.
    fn password(&self, username: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> PasswordLookup for F {
    fn password(&self, username: &str) -> Option<String> {
        self(username)
    }
}

/// What the server sends after a client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this challenge; the exchange continues.
    Challenge(Vec<u8>),
    /// Authenticated: send `token` (the `rspauth`) and record `authorization_id` (Apache
    /// adds it to the connection as the id `sasl:<authorization_id>`).
    Complete {
        /// The final token for the client.
        token: Vec<u8>,
        /// Who the client is.
        authorization_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerState {
    Initial,
    ChallengeSent,
    Complete { authorization_id: String },
    Failed,
}

/// The server side of one DIGEST-MD5 exchange (module docs give the flow).
#[derive(Debug, Clone)]
pub struct DigestMd5Server<L> {
    config: DigestMd5Config,
    lookup: L,
    nonce: String,
    state: ServerState,
}

impl<L: PasswordLookup> DigestMd5Server<L> {
    /// A server for Apache ZooKeeper's realm with a random nonce, checking passwords
    /// through `lookup`.
    pub fn new(lookup: L) -> Self {
        Self {
            config: DigestMd5Config::default(),
            lookup,
            nonce: random_nonce(),
            state: ServerState::Initial,
        }
    }

    /// Another service and server name.
    pub fn with_config(mut self, config: DigestMd5Config) -> Self {
        self.config = config;
        self
    }

    /// A fixed nonce, for known-answer tests.
    pub fn with_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = nonce.into();
        self
    }

    /// The authenticated user, once complete.
    pub fn authorization_id(&self) -> Option<&str> {
        match &self.state {
            ServerState::Complete { authorization_id } => Some(authorization_id),
            _ => None,
        }
    }

    /// Feeds the client's next token: the empty first one, then the digest response.
    ///
    /// # Errors
    /// Any [`DigestMd5Error`]; the exchange is then over and the server should refuse the
    /// client (Apache answers `AuthFailed` and closes the connection).
    pub fn evaluate_response(&mut self, token: &[u8]) -> Result<ServerStep, DigestMd5Error> {
        let result = self.evaluate_inner(token);
        if result.is_err() {
            self.state = ServerState::Failed;
        }
        result
    }

    fn evaluate_inner(&mut self, token: &[u8]) -> Result<ServerStep, DigestMd5Error> {
        check_size(token)?;
        match self.state {
            ServerState::Initial => {
                if !token.is_empty() {
                    return Err(DigestMd5Error::InitialResponseNotEmpty);
                }
                let mut out = String::from("realm=");
                push_quoted(&mut out, &self.config.server_name);
                out.push_str(",nonce=");
                push_quoted(&mut out, &self.nonce);
                out.push_str(",qop=\"auth\",charset=utf-8,algorithm=md5-sess");
                self.state = ServerState::ChallengeSent;
                Ok(ServerStep::Challenge(out.into_bytes()))
            }
            ServerState::ChallengeSent => {
                let (token, authorization_id) = self.verify(token)?;
                self.state = ServerState::Complete {
                    authorization_id: authorization_id.clone(),
                };
                Ok(ServerStep::Complete {
                    token,
                    authorization_id,
                })
            }
            ServerState::Complete { .. } | ServerState::Failed => {
                Err(DigestMd5Error::UnexpectedToken)
            }
        }
    }

    /// Checks a digest response; returns the `rspauth` token and the user.
    fn verify(&self, token: &[u8]) -> Result<(Vec<u8>, String), DigestMd5Error> {
        let d = directives::parse(token)?;
        let username = directives::required(&d, "username")?;
        let realm = directives::single(&d, "realm")?.unwrap_or("");
        if !realm.is_empty() && realm != self.config.server_name {
            return Err(DigestMd5Error::RealmMismatch);
        }
        if directives::required(&d, "nonce")? != self.nonce {
            return Err(DigestMd5Error::NonceMismatch);
        }
        let cnonce = directives::required(&d, "cnonce")?;
        if cnonce.is_empty() {
            return Err(invalid("cnonce", "empty"));
        }
        let nc = directives::required(&d, "nc")?;
        if u32::from_str_radix(nc, 16).ok() != Some(1) {
            return Err(invalid("nc", "must be 00000001"));
        }
        if directives::single(&d, "qop")?.unwrap_or("auth") != "auth" {
            return Err(DigestMd5Error::UnsupportedQop);
        }
        if directives::single(&d, "cipher")?.is_some() {
            return Err(DigestMd5Error::UnsupportedQop);
        }
        let uri = directives::required(&d, "digest-uri")?;
        if !uri.eq_ignore_ascii_case(&self.config.digest_uri()) {
            return Err(DigestMd5Error::DigestUriMismatch);
        }
        let utf8 = charset_is_utf8(&d)?;
        let response = directives::required(&d, "response")?;
        if response.len() != 32 || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("response", "not 32 hex digits"));
        }
        // Java's client always sends `authzid` (equal to the user name), and RFC 2831
        // then hashes it into A1.
        let authzid = directives::single(&d, "authzid")?;
        if authzid.is_some_and(|a| a != username) {
            return Err(DigestMd5Error::AuthzidNotAllowed);
        }
        let password = self
            .lookup
            .password(username)
            .ok_or(DigestMd5Error::UnknownUser)?;
        let nonce = self.nonce.as_str();
        let ha1 = hash_a1(username, realm, &password, nonce, cnonce, utf8, authzid)?;
        let expected = kd_hex(&ha1, nonce, cnonce, &format!("AUTHENTICATE:{uri}"));
        if !constant_time_eq_hex(response, &expected) {
            return Err(DigestMd5Error::ResponseMismatch);
        }
        let rspauth = kd_hex(&ha1, nonce, cnonce, &format!(":{uri}"));
        Ok((
            format!("rspauth={rspauth}").into_bytes(),
            username.to_owned(),
        ))
    }
}

fn check_size(token: &[u8]) -> Result<(), DigestMd5Error> {
    if token.len() > MAX_TOKEN {
        return Err(DigestMd5Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN,
        });
    }
    Ok(())
}

fn invalid(name: &'static str, reason: &'static str) -> DigestMd5Error {
    DigestMd5Error::InvalidDirective { name, reason }
}

/// Whether `charset=utf-8` is present (the only charset RFC 2831 allows).
fn charset_is_utf8(d: &[Directive]) -> Result<bool, DigestMd5Error> {
    match directives::single(d, "charset")? {
        None => Ok(false),
        Some(c) if c.eq_ignore_ascii_case("utf-8") => Ok(true),
        Some(_) => Err(invalid("charset", "only utf-8 is defined")),
    }
}

/// RFC 2831 §2.1.2.1: user name, realm and password are hashed as ISO-8859-1 when every
/// character fits, else as UTF-8 (allowed only with `charset=utf-8`), as Java does.
fn credential_bytes(s: &str, utf8: bool) -> Result<Vec<u8>, DigestMd5Error> {
    if s.chars().all(|c| u32::from(c) <= 0xff) {
        Ok(s.chars().map(|c| u32::from(c) as u8).collect())
    } else if utf8 {
        Ok(s.as_bytes().to_vec())
    } else {
        Err(DigestMd5Error::CredentialsNotEncodable)
    }
}

/// `HEX(H(A1))` for md5-sess: `A1 = H(user:realm:password):nonce:cnonce[:authzid]`.
fn hash_a1(
    username: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    utf8: bool,
    authzid: Option<&str>,
) -> Result<String, DigestMd5Error> {
    let mut inner = Md5::new();
    inner.update(credential_bytes(username, utf8)?);
    inner.update(b":");
    inner.update(credential_bytes(realm, utf8)?);
    inner.update(b":");
    inner.update(credential_bytes(password, utf8)?);
    let mut a1 = Md5::new();
    a1.update(inner.finalize());
    a1.update(format!(":{nonce}:{cnonce}"));
    if let Some(authzid) = authzid {
        a1.update(format!(":{authzid}"));
    }
    Ok(hex(&a1.finalize()))
}

/// `HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2))))`, with `KD(k, s) = H(k:s)`.
fn kd_hex(ha1: &str, nonce: &str, cnonce: &str, a2: &str) -> String {
    let ha2 = hex(&Md5::digest(a2.as_bytes()));
    hex(&Md5::digest(
        format!("{ha1}:{nonce}:{NONCE_COUNT}:{cnonce}:auth:{ha2}").as_bytes(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|&b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// Compares hex digests without an early exit, so timing does not tell how much matched.
fn constant_time_eq_hex(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

/// 16 random bytes, base64: a nonce or cnonce (RFC 2831 asks for at least 64 bits).
fn random_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[path = "digest_md5_tests.rs"]
mod tests;
