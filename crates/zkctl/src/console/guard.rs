//! The console's safety rules, applied to every request before any handler runs:
//!
//! - **Host**: on a loopback listener only `127.0.0.1:PORT`, `localhost:PORT` and
//!   `[::1]:PORT` are served, so a web page elsewhere cannot reach the console through a
//!   DNS name rebound to 127.0.0.1.
//! - **Token** (`--token`): `Authorization: Bearer TOKEN`, or the cookie that opening
//!   `/?token=TOKEN` once sets (HttpOnly, SameSite=Strict), so the page and its event
//!   stream carry it without the token in every URL.
//! - **Cross-site requests**: anything but GET/HEAD must be JSON (`Content-Type:
//!   application/json`, which a plain HTML form cannot send) from this origin.
//! - **Headers**: a content security policy allowing only the console's own script and
//!   style (node data that slipped into markup would still not run), no sniffing, no
//!   framing, no caching of API answers.
//!
//! Whether writes are allowed at all is the handlers' check ([`super::Shared::require_writes`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::reply::ApiError;
use super::Shared;

/// The cookie holding the token.
const COOKIE: &str = "zkmesh_console_token";

/// The `Host` values a loopback listener on `port` answers to.
pub fn loopback_hosts(port: u16) -> Vec<String> {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{h}:{port}"))
        .collect()
}

/// Compares without stopping at the first difference, so the time taken does not tell
/// how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The token a request carries, from its `Authorization` header or its cookie.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) =
        header_str(headers, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// `token=…` from a query string.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Applies the rules above, then the security headers to whatever is answered.
pub async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let mut response = match check(&shared, &request) {
        Ok(Some(early)) => early,
        Ok(None) => {
            let api = request.uri().path().starts_with("/api/");
            let mut response = next.run(request).await;
            if api {
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            response
        }
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `Ok(Some(_))`: answer this instead of running the handler; `Ok(None)`: go on.
fn check(shared: &Shared, request: &Request) -> Result<Option<Response>, ApiError> {
    let headers = request.headers();
    let host = header_str(headers, header::HOST).unwrap_or_default();
    if let Some(allowed) = &shared.allowed_hosts {
        if !allowed.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            tracing::warn!(host, "console request for another host refused");
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!("this console answers to {} only", allowed.join(", ")),
            ));
        }
    }
    if let Some(token) = &shared.token {
        let presented = presented_token(headers).is_some_and(|t| same_secret(t, token));
        if !presented {
            // Opening `/?token=…` trades the token for a cookie and drops it from the URL.
            let given = query_token(request.uri().query());
            if request.uri().path() == "/" && given.is_some_and(|t| same_secret(t, token)) {
                let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
                let mut r = StatusCode::SEE_OTHER.into_response();
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/"));
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                return Ok(Some(r));
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this console needs its token: send `Authorization: Bearer TOKEN`, or open /?token=TOKEN once",
            ));
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let json = header_str(headers, header::CONTENT_TYPE)
            .is_some_and(|t| t.split(';').next() == Some("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "changes must be sent as application/json",
            ));
        }
        if let Some(origin) = header_str(headers, header::ORIGIN) {
            let own = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !own {
                tracing::warn!(origin, host, "cross-origin change refused");
                return Err(ApiError::forbidden(format!(
                    "requests from {origin} may not change anything here"
                )));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; zkmesh_console_token=s3cret"),
        );
        assert_eq!(presented_token(&h), Some("s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer other"),
        );
        assert_eq!(presented_token(&h), Some("other"));
        assert_eq!(query_token(Some("x=1&token=abc")), Some("abc"));
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("ab", "abc")
        );
    }
}
