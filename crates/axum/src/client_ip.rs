//! The client's IP address: the peer of the connection, unless that peer is
//! a proxy the service trusts, in which case `X-Forwarded-For` says who it
//! forwarded for. A forged `X-Forwarded-For` from anyone else is ignored:
//! otherwise every client could pick the address its limits and its audit
//! trail are counted under.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

/// One trusted proxy: an address, or a network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `10.0.0.1`, `10.0.0.0/8` or `::1/128`.
    ///
    /// # Errors
    /// [`ProxyError`] for anything else.
    pub fn parse(text: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError(text.to_owned());
        let (ip, prefix) = match text.trim().split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text.trim(), None),
        };
        let base: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        // `::ffff:10.0.0.0/104` is the IPv4 network `10.0.0.0/8`: peers
        // are compared in their IPv4 form.
        if let IpAddr::V6(v6) = base
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Ok(Self {
                base: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { base, prefix })
    }

    /// Whether `ip` lies in this network.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A trusted proxy that is not an address or a network.
#[derive(Debug, thiserror::Error)]
#[error("a trusted proxy must be an IP address or a network like 10.0.0.0/8: {0:?}")]
pub struct ProxyError(String);

/// The proxies whose `X-Forwarded-For` is believed. Empty by default: the
/// peer address is the client.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// No proxy is trusted.
    #[must_use]
    pub const fn none() -> Self {
        Self(Vec::new())
    }

    /// Parses comma-separated addresses and networks
    /// (`127.0.0.1,10.0.0.0/8`).
    ///
    /// # Errors
    /// [`ProxyError`] for an entry that is neither.
    pub fn parse(list: &str) -> Result<Self, ProxyError> {
        list.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(Network::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies.
    #[must_use]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client of a request from `peer` with these `X-Forwarded-For`
    /// values: `peer` itself unless it is trusted; then the right-most
    /// address of the header that is not a trusted proxy (each trusted hop
    /// appends who it saw), or the left-most when all are. A malformed
    /// entry stops the walk at the last hop known good.
    #[must_use]
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// The address of one `X-Forwarded-For` hop: `192.0.2.1`, `2001:db8::1`,
/// or with a port, as some proxies write them: `192.0.2.1:5678`,
/// `[2001:db8::1]:443`.
fn hop_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|a| a.ip()).or_else(|| {
        // `[2001:db8::1]` without a port.
        hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
    })
}

/// The client's address, as [`TrustedProxies::client`] made it out; in the
/// request's extensions once [`resolve`] has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .copied()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The middleware that puts the [`ClientIp`] (and a [`RequestId`]) in every
/// request's extensions and runs the request in a `request` span naming
/// both: `axum::middleware::from_fn_with_state(proxies, resolve)`.
/// It needs the connection's peer address (`ConnectInfo<SocketAddr>`,
/// which [`crate::serve`] provides, as does `axum::serve` with
/// `into_make_service_with_connect_info`). Without it the request is
/// refused with the failure page and an error in the log: every client
/// would otherwise share one address, and one budget.
pub async fn resolve(
    State(proxies): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        tracing::error!(
            "no peer address (ConnectInfo): serve with lockstep_axum::serve, or axum::serve \
             with into_make_service_with_connect_info"
        );
        return crate::view::View::Failed.into_response();
    };
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = ClientIp(proxies.client(peer, &forwarded));
    request.extensions_mut().insert(client);
    // Every log line of the request carries its ID and client.
    let id = RequestId::draw();
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", id = %id.0, client = %client.0);
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// A request's ID: 16 hex digits drawn at random, in the span of every
/// log line the request writes and in its `x-request-id` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    fn draw() -> Self {
        let mut bytes = [0_u8; 8];
        // Without randomness the ID is zero: a log key, not a secret.
        let _ = getrandom::fill(&mut bytes);
        Self(data_encoding::HEXLOWER.encode(&bytes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;

    use super::{Network, TrustedProxies};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_their_addresses_only() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        let one = Network::parse("::1").unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::1/129", ""] {
            assert!(Network::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A forged `X-Forwarded-For` from an untrusted peer is ignored; from a
    /// trusted proxy the right-most untrusted hop is the client, so a
    /// client cannot hide behind a value it wrote itself in front.
    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["6.6.6.6, 198.51.100.7, 10.0.0.2"]),
            ip("198.51.100.7"),
            "the forged left-most entry is not believed"
        );
        assert_eq!(proxies.client(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["garbage, 10.0.0.3"]),
            ip("10.0.0.3"),
            "a malformed hop stops the walk"
        );
        // Hops with ports, as some proxies write them.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["198.51.100.7:5678"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["[2001:db8::8]"]),
            ip("2001:db8::8")
        );
        // A proxy written in its IPv4-mapped form is the IPv4 proxy.
        let mapped = TrustedProxies::parse("::ffff:10.0.0.1").unwrap();
        assert_eq!(
            mapped.client(ip("10.0.0.1"), &["198.51.100.9"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            mapped.client(ip("::ffff:10.0.0.1"), &["198.51.100.9"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            TrustedProxies::none().client(ip("127.0.0.1"), &["1.2.3.4"]),
            ip("127.0.0.1")
        );
    }
}
