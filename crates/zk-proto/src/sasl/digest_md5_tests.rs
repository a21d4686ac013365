use proptest::prelude::*;

use super::*;

/// RFC 2831 §4's example: IMAP at elwood.innosoft.com.
fn rfc_config() -> DigestMd5Config {
    DigestMd5Config {
        service: "imap".into(),
        server_name: "elwood.innosoft.com".into(),
    }
}

const RFC_CHALLENGE: &[u8] = br#"realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8"#;

fn rfc_client() -> DigestMd5Client {
    DigestMd5Client::new("chris", "secret")
        .with_config(rfc_config())
        .with_cnonce("OA6MHXh6VqTrRk")
}

fn directive(token: &[u8], name: &str) -> Option<String> {
    directives::parse(token)
        .unwrap()
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.value)
}

fn alice(user: &str) -> Option<String> {
    (user == "alice").then(|| "secret".to_owned())
}

#[test]
fn rfc_2831_example_response_and_rspauth() {
    let mut client = rfc_client();
    let ClientStep::Respond(response) = client.step(RFC_CHALLENGE).unwrap() else {
        panic!("expected a response");
    };
    assert_eq!(
        directive(&response, "response").as_deref(),
        Some("d388dad90d4bbd760a152321f2143af7")
    );
    assert_eq!(
        directive(&response, "digest-uri").as_deref(),
        Some("imap/elwood.innosoft.com")
    );
    assert_eq!(directive(&response, "nc").as_deref(), Some("00000001"));
    assert!(!client.is_complete());
    assert_eq!(
        client.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffd"),
        Ok(ClientStep::Complete)
    );
    assert!(client.is_complete());
    assert_eq!(client.step(b""), Err(DigestMd5Error::UnexpectedToken));
}

#[test]
fn rfc_2831_example_verified_by_the_server() {
    let mut server = DigestMd5Server::new(|u: &str| (u == "chris").then(|| "secret".into()))
        .with_config(rfc_config())
        .with_nonce("OA6MG9tEQGm2hh");
    let ServerStep::Challenge(challenge) = server.evaluate_response(b"").unwrap() else {
        panic!("expected a challenge");
    };
    let mut client = rfc_client();
    let ClientStep::Respond(response) = client.step(&challenge).unwrap() else {
        panic!("expected a response");
    };
    let step = server.evaluate_response(&response).unwrap();
    assert_eq!(
        step,
        ServerStep::Complete {
            token: b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec(),
            authorization_id: "chris".into(),
        }
    );
    assert_eq!(server.authorization_id(), Some("chris"));
}

#[test]
fn zookeeper_defaults_round_trip_with_random_nonces() {
    let mut server = DigestMd5Server::new(alice);
    let mut client = DigestMd5Client::new("alice", "secret");
    let ServerStep::Challenge(challenge) = server
        .evaluate_response(&client.initial_response())
        .unwrap()
    else {
        panic!("expected a challenge");
    };
    assert_eq!(
        directive(&challenge, "realm").as_deref(),
        Some("zk-sasl-md5")
    );
    let ClientStep::Respond(response) = client.step(&challenge).unwrap() else {
        panic!("expected a response");
    };
    assert_eq!(
        directive(&response, "digest-uri").as_deref(),
        Some("zookeeper/zk-sasl-md5")
    );
    let ServerStep::Complete {
        token,
        authorization_id,
    } = server.evaluate_response(&response).unwrap()
    else {
        panic!("expected completion");
    };
    assert_eq!(authorization_id, "alice");
    assert_eq!(client.step(&token), Ok(ClientStep::Complete));
}

#[test]
fn non_latin1_credentials_need_utf8_and_round_trip_with_it() {
    let mut server = DigestMd5Server::new(|u: &str| (u == "Ålice✓").then(|| "päss✓".into()));
    let mut client = DigestMd5Client::new("Ålice✓", "päss✓");
    let ServerStep::Challenge(challenge) = server.evaluate_response(b"").unwrap() else {
        panic!()
    };
    let ClientStep::Respond(response) = client.step(&challenge).unwrap() else {
        panic!()
    };
    let ServerStep::Complete { token, .. } = server.evaluate_response(&response).unwrap() else {
        panic!()
    };
    assert_eq!(client.step(&token), Ok(ClientStep::Complete));

    let mut no_charset = DigestMd5Client::new("Ålice✓", "päss✓");
    assert_eq!(
        no_charset.step(br#"nonce="n",algorithm=md5-sess"#),
        Err(DigestMd5Error::CredentialsNotEncodable)
    );
}

#[test]
fn an_authzid_as_java_sends_it_is_part_of_the_digest_and_must_name_the_user() {
    // Java's client sends `authzid` equal to the user name; RFC 2831 then hashes it into
    // A1, so a digest made without it does not verify.
    let (nonce, cnonce, uri) = ("n0nce", "c0nce", "zookeeper/zk-sasl-md5");
    let digest = |authzid: Option<&str>| {
        let ha1 = hash_a1(
            "alice",
            "zk-sasl-md5",
            "secret",
            nonce,
            cnonce,
            true,
            authzid,
        )
        .expect("encodable");
        kd_hex(&ha1, nonce, cnonce, &format!("AUTHENTICATE:{uri}"))
    };
    let response = |authzid: &str, digest: &str| {
        format!(
            r#"charset=utf-8,username="alice",realm="zk-sasl-md5",nonce="{nonce}",nc=00000001,cnonce="{cnonce}",digest-uri="{uri}",maxbuf=65536,response={digest},qop=auth,authzid="{authzid}""#
        )
        .into_bytes()
    };
    let answer = |token: Vec<u8>| {
        let mut server = DigestMd5Server::new(alice).with_nonce(nonce);
        server.evaluate_response(b"").expect("challenge");
        server.evaluate_response(&token)
    };
    assert!(matches!(
        answer(response("alice", &digest(Some("alice")))),
        Ok(ServerStep::Complete { ref authorization_id, .. }) if authorization_id == "alice"
    ));
    assert_eq!(
        answer(response("alice", &digest(None))),
        Err(DigestMd5Error::ResponseMismatch)
    );
    assert_eq!(
        answer(response("mallory", &digest(Some("mallory")))),
        Err(DigestMd5Error::AuthzidNotAllowed)
    );
}

#[test]
fn wrong_password_unknown_user_and_forged_rspauth_fail_typed() {
    let run = |user: &str, password: &str| {
        let mut server = DigestMd5Server::new(alice);
        let mut client = DigestMd5Client::new(user, password);
        let ServerStep::Challenge(c) = server.evaluate_response(b"").unwrap() else {
            panic!()
        };
        let ClientStep::Respond(r) = client.step(&c).unwrap() else {
            panic!()
        };
        let result = server.evaluate_response(&r);
        (result, server.authorization_id().map(str::to_owned))
    };
    assert_eq!(
        run("alice", "wrong"),
        (Err(DigestMd5Error::ResponseMismatch), None)
    );
    assert_eq!(
        run("bob", "secret"),
        (Err(DigestMd5Error::UnknownUser), None)
    );

    let mut client = rfc_client();
    client.step(RFC_CHALLENGE).unwrap();
    assert_eq!(
        client.step(b"rspauth=00000000000000000000000000000000"),
        Err(DigestMd5Error::ServerAuthMismatch)
    );
    assert_eq!(
        client.step(b"rspauth=x"),
        Err(DigestMd5Error::UnexpectedToken)
    );
}

#[test]
fn bad_challenges_are_refused() {
    let cases: &[(&[u8], DigestMd5Error)] = &[
        (b"", DigestMd5Error::MissingDirective("nonce")),
        (
            br#"realm="r",algorithm=md5-sess"#,
            DigestMd5Error::MissingDirective("nonce"),
        ),
        (
            br#"nonce="a",nonce="b",algorithm=md5-sess"#,
            DigestMd5Error::DuplicateDirective("nonce"),
        ),
        (
            br#"nonce="a",qop="auth-conf",algorithm=md5-sess"#,
            DigestMd5Error::UnsupportedQop,
        ),
        (
            br#"nonce="a""#,
            DigestMd5Error::MissingDirective("algorithm"),
        ),
        (
            br#"nonce="a",algorithm=md5"#,
            DigestMd5Error::InvalidDirective {
                name: "algorithm",
                reason: "only md5-sess is defined",
            },
        ),
        (
            br#"nonce="a",algorithm=md5-sess,charset=latin1"#,
            DigestMd5Error::InvalidDirective {
                name: "charset",
                reason: "only utf-8 is defined",
            },
        ),
        (
            br#"nonce="a",algorithm=md5-sess,maxbuf=0"#,
            DigestMd5Error::InvalidDirective {
                name: "maxbuf",
                reason: "not a positive number",
            },
        ),
    ];
    for (challenge, error) in cases {
        let mut client = DigestMd5Client::new("alice", "secret");
        assert_eq!(
            client.step(challenge).as_ref(),
            Err(error),
            "{}",
            String::from_utf8_lossy(challenge)
        );
    }
    let mut client = DigestMd5Client::new("alice", "secret");
    assert!(matches!(
        client.step(br#"nonce="unterminated"#),
        Err(DigestMd5Error::Syntax { .. })
    ));
}

#[test]
fn bad_responses_are_refused() {
    let valid = |server: &mut DigestMd5Server<fn(&str) -> Option<String>>| {
        let ServerStep::Challenge(c) = server.evaluate_response(b"").unwrap() else {
            panic!()
        };
        let ClientStep::Respond(r) = DigestMd5Client::new("alice", "secret").step(&c).unwrap()
        else {
            panic!()
        };
        String::from_utf8(r).unwrap()
    };
    let edits: &[(&str, &str, DigestMd5Error)] = &[
        (
            "nc=00000001",
            "nc=00000002",
            invalid("nc", "must be 00000001"),
        ),
        ("qop=auth", "qop=auth-int", DigestMd5Error::UnsupportedQop),
        (
            "\"zookeeper/zk-sasl-md5\"",
            "\"zookeeper/elsewhere\"",
            DigestMd5Error::DigestUriMismatch,
        ),
        (
            "realm=\"zk-sasl-md5\"",
            "realm=\"other\"",
            DigestMd5Error::RealmMismatch,
        ),
        ("nonce=\"", "nonce=\"x", DigestMd5Error::NonceMismatch),
        (
            "username=\"alice\"",
            "username=\"alice\",username=\"bob\"",
            DigestMd5Error::DuplicateDirective("username"),
        ),
        (
            "username=\"alice\",",
            "",
            DigestMd5Error::MissingDirective("username"),
        ),
        (
            "qop=auth",
            "qop=auth,authzid=\"root\"",
            DigestMd5Error::AuthzidNotAllowed,
        ),
    ];
    for (from, to, error) in edits {
        let mut server = DigestMd5Server::new(alice as fn(&str) -> Option<String>);
        let response = valid(&mut server).replacen(from, to, 1);
        assert_eq!(
            server.evaluate_response(response.as_bytes()).as_ref(),
            Err(error),
            "{response}"
        );
        assert_eq!(
            server.evaluate_response(b""),
            Err(DigestMd5Error::UnexpectedToken)
        );
    }
    let mut server = DigestMd5Server::new(alice);
    assert_eq!(
        server.evaluate_response(b"x=y"),
        Err(DigestMd5Error::InitialResponseNotEmpty)
    );
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let big = vec![b'a'; MAX_TOKEN + 1];
    assert_eq!(
        DigestMd5Client::new("a", "b").step(&big),
        Err(DigestMd5Error::TokenTooLarge {
            len: MAX_TOKEN + 1,
            max: MAX_TOKEN
        })
    );
    assert!(matches!(
        DigestMd5Server::new(alice).evaluate_response(&big),
        Err(DigestMd5Error::TokenTooLarge { .. })
    ));
}

#[test]
fn debug_never_shows_the_password() {
    let client = DigestMd5Client::new("alice", "hunter2");
    assert!(!format!("{client:?}").contains("hunter2"));
}

proptest! {
    #[test]
    fn arbitrary_tokens_never_panic_either_side(
        first in proptest::collection::vec(any::<u8>(), 0..512),
        second in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut client = DigestMd5Client::new("alice", "secret");
        let _ = client.step(&first);
        let _ = client.step(&second);
        let mut server = DigestMd5Server::new(alice);
        let _ = server.evaluate_response(&first);
        let _ = server.evaluate_response(b"");
        let mut server = DigestMd5Server::new(alice);
        let _ = server.evaluate_response(b"");
        let _ = server.evaluate_response(&second);
    }

    #[test]
    fn directive_shaped_tokens_never_panic(
        parts in proptest::collection::vec(
            ("[a-z-]{0,9}", "[ -~]{0,12}", any::<bool>()), 0..12),
    ) {
        let token = parts
            .iter()
            .map(|(n, v, quoted)| if *quoted { format!("{n}=\"{v}\"") } else { format!("{n}={v}") })
            .collect::<Vec<_>>()
            .join(",");
        let _ = DigestMd5Client::new("alice", "secret").step(token.as_bytes());
        let mut server = DigestMd5Server::new(alice);
        let _ = server.evaluate_response(b"");
        let _ = server.evaluate_response(token.as_bytes());
    }
}
