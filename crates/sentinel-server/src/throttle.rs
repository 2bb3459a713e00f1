//! Per-client limits on the sign-in forms: a fixed window per key (client address and form), kept in
//! memory on this node. One person's codes are limited in the store; this limits one client's guesses
//! across many ID numbers, which would otherwise ask without end whether an ID number and a phone belong
//! together.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};

/// Keys kept at most; past it, windows that have ended are dropped (and, if that is not enough, all).
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    windows: Mutex<HashMap<String, (DateTime<Utc>, u32)>>,
}

impl Throttle {
    /// Counts one request for `key` in the window of `length` starting at its first request; `false` when
    /// `limit` were already counted in that window.
    pub fn allow(&self, key: &str, limit: u32, length: Duration, now: DateTime<Utc>) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| now - *start < length);
            if windows.len() >= MAX_KEYS {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= length {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// The client behind a request, as [`client_address`] finds it.
pub struct ClientAddress(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<crate::state::AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(ClientAddress(client_address(&parts.headers, peer, state.trust_forwarded_for)))
    }
}

impl ClientAddress {
    /// Counts a request of `form` from this client; past `limit` in ten minutes, the page's 429. A request
    /// whose client is unknown (no connection address) is not limited here.
    pub fn check(
        &self,
        state: &crate::state::AppState,
        form: &str,
        limit: u32,
    ) -> Result<(), crate::pages::layout::PageError> {
        let allowed = match self.0 {
            Some(ip) => {
                state.throttle.allow(&format!("{form}:{ip}"), limit, Duration::minutes(10), state.now())
            }
            None => true,
        };
        match allowed {
            true => Ok(()),
            false => Err(crate::pages::layout::PageError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "请求过于频繁，请10分钟后再试",
                "Too many requests from this connection: try again in 10 minutes",
            )),
        }
    }
}

/// The client's address: the connection's peer, or, behind a proxy this deployment trusts, the last
/// address the proxy appended to `X-Forwarded-For`.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    trust_forwarded: bool,
) -> Option<IpAddr> {
    if trust_forwarded {
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        if let Some(last) = forwarded.and_then(|v| v.rsplit(',').next())
            && let Ok(ip) = last.trim().parse()
        {
            return Some(ip);
        }
    }
    peer.map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_then_starts_over() {
        let t = Throttle::default();
        let now = DateTime::UNIX_EPOCH;
        let ten = Duration::minutes(10);
        assert!((0..3).all(|_| t.allow("ip:1", 3, ten, now)));
        assert!(!t.allow("ip:1", 3, ten, now + Duration::minutes(9)));
        assert!(t.allow("ip:2", 3, ten, now), "per key");
        assert!(t.allow("ip:1", 3, ten, now + ten), "a new window");
    }

    #[test]
    fn forwarded_addresses_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
        assert_eq!(client_address(&headers, Some(&peer), false), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(client_address(&headers, Some(&peer), true), Some(IpAddr::from([10, 0, 0, 2])));
    }
}
