//! Matching requests against routes: rules compiled once (regexes built, header names
//! lower-cased) so that matching a request does no allocation.

use regex::Regex;

use crate::rule::{RequestMatch, StringMatch};

/// What a request carries for routing. Borrowed, so building one costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContext<'a> {
    /// The method (e.g. a gRPC method name).
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// Headers or metadata, `(name, value)`; names compared case-insensitively.
    pub headers: &'a [(&'a str, &'a str)],
    /// The caller's tags.
    pub caller_tags: &'a [&'a str],
    /// The caller's identity (consistent hashing without a header key uses it).
    pub caller_id: &'a str,
}

impl<'a> RequestContext<'a> {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[derive(Debug)]
enum Test {
    Exact(String),
    Prefix(String),
    Regex(Regex),
    Present(bool),
}

#[derive(Debug)]
struct StrMatcher {
    test: Test,
    invert: bool,
}

impl StrMatcher {
    fn compile(m: &StringMatch) -> Option<Self> {
        let test = if let Some(e) = &m.exact {
            Test::Exact(e.clone())
        } else if let Some(p) = &m.prefix {
            Test::Prefix(p.clone())
        } else if let Some(r) = &m.regex {
            Test::Regex(Regex::new(r).ok()?)
        } else {
            Test::Present(m.present?)
        };
        Some(Self {
            test,
            invert: m.invert,
        })
    }

    fn matches(&self, value: Option<&str>) -> bool {
        let hit = match (&self.test, value) {
            (Test::Present(want), v) => v.is_some() == *want,
            (_, None) => false,
            (Test::Exact(e), Some(v)) => v == e,
            (Test::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
            (Test::Regex(r), Some(v)) => r.is_match(v),
        };
        hit != self.invert
    }
}

/// A route's conditions, compiled.
#[derive(Debug)]
pub struct Matcher {
    method: Option<StrMatcher>,
    path: Option<StrMatcher>,
    headers: Vec<(String, StrMatcher)>,
    caller_tags: Vec<String>,
}

impl Matcher {
    /// Compiles validated conditions (`None` only if validation was skipped and a regex
    /// does not compile).
    pub fn compile(m: &RequestMatch) -> Option<Self> {
        Some(Self {
            method: m
                .method
                .as_ref()
                .map(StrMatcher::compile)
                .transpose_none()?,
            path: m.path.as_ref().map(StrMatcher::compile).transpose_none()?,
            headers: m
                .headers
                .iter()
                .map(|h| {
                    Some((
                        h.name.to_ascii_lowercase(),
                        StrMatcher::compile(&h.matcher)?,
                    ))
                })
                .collect::<Option<_>>()?,
            caller_tags: m.caller_tags.clone(),
        })
    }

    /// Whether `ctx` satisfies every condition.
    pub fn matches(&self, ctx: &RequestContext) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.matches(Some(ctx.method)))
            && self.path.as_ref().is_none_or(|m| m.matches(Some(ctx.path)))
            && self
                .headers
                .iter()
                .all(|(name, m)| m.matches(ctx.header(name)))
            && self
                .caller_tags
                .iter()
                .all(|t| ctx.caller_tags.iter().any(|c| c == t))
    }
}

/// `Option<Option<T>>` → `Option<Option<T>>` where an inner failure fails the whole.
trait TransposeNone<T> {
    fn transpose_none(self) -> Option<Option<T>>;
}

impl<T> TransposeNone<T> for Option<Option<T>> {
    fn transpose_none(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(None) => None,
            Some(Some(v)) => Some(Some(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::HeaderMatch;

    fn sm(json: &str) -> StringMatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn string_matches_and_negation() {
        let ctx = RequestContext {
            method: "GetOrder",
            path: "/orders/7",
            headers: &[("X-Tenant", "acme"), ("x-region", "eu-west")],
            caller_tags: &["beta", "internal"],
            caller_id: "c1",
        };
        let m = |rm: RequestMatch| Matcher::compile(&rm).unwrap().matches(&ctx);
        assert!(m(RequestMatch::default()));
        assert!(m(RequestMatch {
            method: Some(sm(r#"{"exact":"GetOrder"}"#)),
            ..Default::default()
        }));
        assert!(!m(RequestMatch {
            method: Some(sm(r#"{"exact":"getorder"}"#)),
            ..Default::default()
        }));
        assert!(m(RequestMatch {
            path: Some(sm(r#"{"prefix":"/orders/"}"#)),
            ..Default::default()
        }));
        assert!(m(RequestMatch {
            path: Some(sm(r#"{"regex":"^/orders/[0-9]+$"}"#)),
            ..Default::default()
        }));
        let header = |name: &str, json: &str| RequestMatch {
            headers: vec![HeaderMatch {
                name: name.into(),
                matcher: sm(json),
            }],
            ..Default::default()
        };
        assert!(m(header("x-tenant", r#"{"exact":"acme"}"#)));
        assert!(m(header("x-debug", r#"{"present":false}"#)));
        assert!(!m(header("x-debug", r#"{"present":true}"#)));
        assert!(!m(header("x-region", r#"{"prefix":"eu-","invert":true}"#)));
        assert!(m(header("x-region", r#"{"prefix":"us-","invert":true}"#)));
        assert!(!m(header("x-missing", r#"{"exact":"x"}"#)));
        assert!(m(RequestMatch {
            caller_tags: vec!["beta".into()],
            ..Default::default()
        }));
        assert!(!m(RequestMatch {
            caller_tags: vec!["beta".into(), "gamma".into()],
            ..Default::default()
        }));
    }
}
