//! The SASL GSSAPI mechanism (RFC 4752), the client's side, as Java's `GssKrb5Client` runs
//! it for ZooKeeper: Kerberos without its Kerberos.
//!
//! Owns the mechanism's state machine and the security-layer negotiation bytes; the GSS-API
//! calls themselves (`gss_init_sec_context`, `gss_wrap`, `gss_unwrap`) are behind
//! [`GssInitiator`], so this module does no I/O and links no Kerberos library. zk-client's
//! `kerberos` feature implements the trait over MIT's libgssapi_krb5.
//!
//! # Exchange (each client token is one `sasl` request, each server token its reply)
//! 1. client: the first `gss_init_sec_context` token (a Kerberos AP-REQ);
//! 2. server: its accept token (the AP-REP, mutual authentication); the client feeds it
//!    back to `gss_init_sec_context` until the context is established, sending any token
//!    it makes, or an empty one once established (Java's `GssKrb5Client` does the same);
//! 3. server: its security-layer offer, wrapped: 1 byte of layers (bit 1 = none,
//!    2 = integrity, 4 = confidentiality) and 3 bytes of maximum message size;
//! 4. client: wrapped (integrity only) `[0x01, 0, 0, 0]` — no security layer, no buffer —
//!    followed by the authorization id (ZooKeeper's server wants the authenticated
//!    principal itself, `alice@REALM`);
//! 5. server: an empty reply: authenticated (or the error `AuthFailed`).

use std::fmt;

use super::digest_md5::ClientStep;

/// The "no security layer" bit of the offer and the answer (RFC 4752 section 3.3).
pub const NO_SECURITY_LAYER: u8 = 0x01;

/// The GSS-API calls the mechanism needs, on one initiator security context.
pub trait GssInitiator {
    /// What a failed call reports (GSS major and minor status, rendered).
    type Error: fmt::Display;
    /// One `gss_init_sec_context` call with the server's token (`None` the first time).
    /// Returns the token to send, if any, and whether the context is now established.
    fn init(&mut self, input: Option<&[u8]>) -> Result<(Option<Vec<u8>>, bool), Self::Error>;
    /// `gss_wrap` without confidentiality (integrity only).
    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, Self::Error>;
    /// `gss_unwrap`, checking integrity.
    fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, Self::Error>;
}

/// Why the exchange cannot go on: the session ends in `AuthFailed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GssapiError {
    /// A GSS-API call failed (no credentials, unknown service principal, bad token...).
    #[error("GSS-API: {0}")]
    Gss(String),
    /// `gss_init_sec_context` produced no first token.
    #[error("GSS-API produced no initial token")]
    NoInitialToken,
    /// The unwrapped security-layer offer is not 4 bytes.
    #[error("security layer offer is {0} bytes, not 4")]
    BadOffer(usize),
    /// The server does not offer to run without a security layer.
    #[error("server requires a security layer (offered {0:#04x}); only none is supported")]
    LayerRequired(u8),
    /// The server sent a token after the exchange was over.
    #[error("unexpected server token after the exchange completed")]
    Unexpected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before [`GssapiClient::initial_response`].
    Start,
    /// Context establishment under way.
    Establishing,
    /// Context established; waiting for the wrapped security-layer offer.
    AwaitOffer,
    /// Answer sent; waiting for the server's final (empty) reply.
    AwaitOutcome,
    /// Complete (or failed).
    Done,
}

/// The client's side of one SASL GSSAPI exchange over a [`GssInitiator`] (see the module
/// docs). Feed it each server token with [`GssapiClient::step`].
#[derive(Debug)]
pub struct GssapiClient<C> {
    ctx: C,
    authzid: String,
    state: State,
}

impl<C: GssInitiator> GssapiClient<C> {
    /// An exchange on `ctx` (a fresh context targeting the service), authorizing as
    /// `authzid` (for ZooKeeper: the client's own principal, `alice@REALM`).
    pub fn new(ctx: C, authzid: impl Into<String>) -> Self {
        Self {
            ctx,
            authzid: authzid.into(),
            state: State::Start,
        }
    }

    /// The authorization id sent at the end.
    pub fn authzid(&self) -> &str {
        &self.authzid
    }

    /// The first token (GSSAPI has an initial response): `gss_init_sec_context` on no input.
    ///
    /// # Errors
    /// [`GssapiError::Gss`] when the context cannot start (no credentials, unknown service
    /// principal, KDC unreachable), [`GssapiError::NoInitialToken`] if it made no token.
    pub fn initial_response(&mut self) -> Result<Vec<u8>, GssapiError> {
        if self.state != State::Start {
            return Err(GssapiError::Unexpected);
        }
        self.state = State::Done;
        let (token, complete) = self.ctx.init(None).map_err(gss)?;
        let token = token.ok_or(GssapiError::NoInitialToken)?;
        self.state = if complete {
            State::AwaitOffer
        } else {
            State::Establishing
        };
        Ok(token)
    }

    /// The next step after the server's `token`.
    ///
    /// # Errors
    /// Any [`GssapiError`]: the exchange is over and must not be retried on this context.
    pub fn step(&mut self, token: &[u8]) -> Result<ClientStep, GssapiError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::Start | State::Done => Err(GssapiError::Unexpected),
            State::Establishing => {
                let (out, complete) = self.ctx.init(Some(token)).map_err(gss)?;
                self.state = if complete {
                    State::AwaitOffer
                } else {
                    State::Establishing
                };
                Ok(ClientStep::Respond(out.unwrap_or_default()))
            }
            State::AwaitOffer => {
                let offer = self.ctx.unwrap(token).map_err(gss)?;
                let [layers, _, _, _] = offer[..] else {
                    return Err(GssapiError::BadOffer(offer.len()));
                };
                if layers & NO_SECURITY_LAYER == 0 {
                    return Err(GssapiError::LayerRequired(layers));
                }
                let mut answer = vec![NO_SECURITY_LAYER, 0, 0, 0];
                answer.extend_from_slice(self.authzid.as_bytes());
                let wrapped = self.ctx.wrap(&answer).map_err(gss)?;
                self.state = State::AwaitOutcome;
                Ok(ClientStep::Respond(wrapped))
            }
            State::AwaitOutcome => Ok(ClientStep::Complete),
        }
    }
}

fn gss(e: impl fmt::Display) -> GssapiError {
    GssapiError::Gss(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pretend context: establishes after `rounds` server tokens; wrap prefixes `W`,
    /// unwrap strips it.
    #[derive(Debug, Default)]
    struct Fake {
        rounds: usize,
        calls: Vec<Option<Vec<u8>>>,
        wrapped: Vec<Vec<u8>>,
    }

    impl GssInitiator for Fake {
        type Error = String;
        fn init(&mut self, input: Option<&[u8]>) -> Result<(Option<Vec<u8>>, bool), String> {
            self.calls.push(input.map(<[u8]>::to_vec));
            let done = self.calls.len() > self.rounds;
            if input == Some(b"bad") {
                return Err("defective token".into());
            }
            Ok(match (self.calls.len(), done) {
                (1, d) => (Some(b"ap-req".to_vec()), d),
                (_, true) => (None, true),
                (_, false) => (Some(b"more".to_vec()), false),
            })
        }
        fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
            self.wrapped.push(message.to_vec());
            Ok([b"W".as_slice(), message].concat())
        }
        fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, String> {
            token
                .strip_prefix(b"W")
                .map(<[u8]>::to_vec)
                .ok_or_else(|| "bad MIC".to_string())
        }
    }

    fn client(rounds: usize) -> GssapiClient<Fake> {
        GssapiClient::new(
            Fake {
                rounds,
                ..Fake::default()
            },
            "alice@ZKMESH.TEST",
        )
    }

    #[test]
    fn mutual_authentication_then_no_security_layer_with_the_authzid() {
        let mut c = client(1);
        assert_eq!(c.initial_response().unwrap(), b"ap-req");
        // The AP-REP establishes the context; GSS has nothing more to say: an empty token.
        assert_eq!(c.step(b"ap-rep"), Ok(ClientStep::Respond(Vec::new())));
        let answer = c.step(b"W\x07\x00\x10\x00").unwrap();
        let mut expected = b"W\x01\x00\x00\x00".to_vec();
        expected.extend_from_slice(b"alice@ZKMESH.TEST");
        assert_eq!(answer, ClientStep::Respond(expected));
        assert_eq!(c.step(b""), Ok(ClientStep::Complete));
        assert_eq!(c.step(b""), Err(GssapiError::Unexpected));
        assert_eq!(c.ctx.calls, vec![None, Some(b"ap-rep".to_vec())]);
    }

    #[test]
    fn extra_context_rounds_send_their_tokens() {
        let mut c = client(2);
        c.initial_response().unwrap();
        assert_eq!(c.step(b"t1"), Ok(ClientStep::Respond(b"more".to_vec())));
        assert_eq!(c.step(b"t2"), Ok(ClientStep::Respond(Vec::new())));
        assert!(matches!(
            c.step(b"W\x01\x00\x00\x00"),
            Ok(ClientStep::Respond(_))
        ));
    }

    #[test]
    fn offers_without_the_no_layer_bit_or_of_the_wrong_size_fail() {
        let mut c = client(1);
        c.initial_response().unwrap();
        c.step(b"ap-rep").unwrap();
        assert_eq!(
            c.step(b"W\x06\x00\x10\x00"),
            Err(GssapiError::LayerRequired(6))
        );
        // Failed is final.
        assert_eq!(c.step(b"W\x01\x00\x00\x00"), Err(GssapiError::Unexpected));

        let mut c = client(1);
        c.initial_response().unwrap();
        c.step(b"ap-rep").unwrap();
        assert_eq!(c.step(b"W\x01\x00"), Err(GssapiError::BadOffer(2)));

        let mut c = client(1);
        c.initial_response().unwrap();
        c.step(b"ap-rep").unwrap();
        assert_eq!(c.step(b"unsigned"), Err(GssapiError::Gss("bad MIC".into())));
    }

    #[test]
    fn gss_failures_end_the_exchange() {
        let mut c = client(2);
        c.initial_response().unwrap();
        assert_eq!(
            c.step(b"bad"),
            Err(GssapiError::Gss("defective token".into()))
        );
        assert_eq!(c.step(b"t"), Err(GssapiError::Unexpected));
        assert_eq!(c.initial_response(), Err(GssapiError::Unexpected));
    }
}
