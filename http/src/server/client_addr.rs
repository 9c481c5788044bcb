//! [`ClientAddr`]: who sent a request — the connection's peer, or behind proxies the server
//! trusts ([`TrustedProxies`]), the address they forwarded in `Forwarded` (RFC 7239) or
//! `X-Forwarded-For` / `X-Forwarded-Proto`.
//!
//! Forwarded addresses are believed right to left: the peer must be a trusted proxy for its
//! last hop to be read at all, each hop read must itself be trusted for the one before it to
//! be read, and the first hop that is not trusted is the client. Everything left of it was
//! written by that client and could say anything. A hop that is not an address (`unknown`,
//! an obfuscated name, garbage) ends the walk at the last address known.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use http::header::{self, HeaderName};

/// The client of the current request: its address (behind trusted proxies, the forwarded
/// one), the connection's two ends, and the scheme a trusted proxy received it with.
///
/// As an extractor it takes the pipeline's answer for the current request; the request's
/// head has it too ([`RequestHead::client`](crate::server::RequestHead::client)), and the
/// access log prints it.
///
/// ```
/// use hyperf_http::server::{ClientAddr, Router};
///
/// let mut router = Router::new();
/// router.get("/whoami", |client: ClientAddr| client.ip().to_string()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    ip: IpAddr,
    port: Option<u16>,
    peer: SocketAddr,
    local: SocketAddr,
    https: Option<bool>,
}

impl ClientAddr {
    /// The client of a connection from `peer` to `local` whose request has `headers`, as
    /// `trusted` proxies say.
    pub(crate) fn resolve(
        peer: SocketAddr,
        local: SocketAddr,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
    ) -> Self {
        let mut client = ClientAddr {
            ip: peer.ip().to_canonical(),
            port: Some(peer.port()),
            peer,
            local,
            https: None,
        };
        if trusted.is_empty() || !trusted.contains(client.ip) {
            return client;
        }
        let hops = forwarded_hops(headers);
        for hop in hops.iter().rev() {
            if !trusted.contains(client.ip) {
                break;
            }
            let Some((ip, port)) = hop.address else { break };
            client.ip = ip.to_canonical();
            client.port = port;
            client.https = hop.https;
        }
        client
    }

    /// The client's address: the peer's, or behind trusted proxies the one they forwarded.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The client's port, when known: the peer's, or one a trusted proxy forwarded
    /// (`Forwarded: for="[2001:db8::1]:4711"`; `X-Forwarded-For` rarely carries one).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The connection's other end: the client itself, or the last proxy in front of the
    /// server.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The connection's end on this host.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Whether the peer is the client (no trusted proxy forwarded another address).
    pub fn is_direct(&self) -> bool {
        self.ip == self.peer.ip().to_canonical() && self.port == Some(self.peer.port())
    }

    /// The scheme the client used: `https` when a trusted proxy says so (`Forwarded: proto=`,
    /// `X-Forwarded-Proto`), else `http` (this server speaks plain HTTP).
    pub fn scheme(&self) -> &'static str {
        match self.https {
            Some(true) => "https",
            _ => "http",
        }
    }
}

impl fmt::Display for ClientAddr {
    /// The address, with the port when known (`[v6]:port` for IPv6).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => SocketAddr::new(self.ip, port).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// A handler asked for a [`ClientAddr`] of a request that has none: one the server's pipeline
/// did not receive from a connection (a service called in-process without
/// [`Incoming::with_addresses`](crate::Incoming::with_addresses)). The server's fault, not
/// the client's: answered `500`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoClientAddr;

impl fmt::Display for NoClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientAddr was asked for, but the request did not come from a connection")
    }
}

impl std::error::Error for NoClientAddr {}

/// One hop a proxy recorded: the address it received the request from (`None` when it is not
/// an address), and whether that was over HTTPS, when said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    address: Option<(IpAddr, Option<u16>)>,
    https: Option<bool>,
}

/// The hops of `Forwarded` when the request has one, else of `X-Forwarded-For` (with
/// `X-Forwarded-Proto`), first hop first. Every field line of the header counts, in order.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Hop> {
    if headers.contains_key(header::FORWARDED) {
        return joined(headers, &header::FORWARDED)
            .map(forwarded_element)
            .collect();
    }
    let protos: Vec<Option<bool>> = joined(headers, &X_FORWARDED_PROTO).map(https_of).collect();
    let fors: Vec<&str> = joined(headers, &X_FORWARDED_FOR).collect();
    fors.iter()
        .enumerate()
        .map(|(index, hop)| Hop {
            address: node_address(hop),
            // One proto per hop when the proxies kept them aligned; one for all when a single
            // proxy set it.
            https: match protos.len() {
                1 => protos[0],
                n if n == fors.len() => protos[index],
                _ => None,
            },
        })
        .collect()
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The comma-separated items of every field line of `name`, trimmed; a line that is not
/// visible ASCII counts as one item that is not an address.
fn joined<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
}

/// One element of `Forwarded`: `for=…;proto=…;by=…;host=…` in any order, names case-blind.
fn forwarded_element(element: &str) -> Hop {
    let mut hop = Hop {
        address: None,
        https: None,
    };
    for pair in element.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = unquoted(value.trim());
        match name.trim().to_ascii_lowercase().as_str() {
            "for" => hop.address = node_address(value),
            "proto" => hop.https = https_of(value),
            _ => {}
        }
    }
    hop
}

/// `value` without the double quotes of a quoted-string (RFC 7239 quotes IPv6 and ports).
fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// Whether a proto is HTTPS: `Some(true)` for `https`, `Some(false)` for `http`, `None` for
/// anything else.
fn https_of(proto: &str) -> Option<bool> {
    match proto.trim() {
        p if p.eq_ignore_ascii_case("https") => Some(true),
        p if p.eq_ignore_ascii_case("http") => Some(false),
        _ => None,
    }
}

/// A node as proxies write it: `192.0.2.43`, `192.0.2.43:47011`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`; `None` for `unknown`, `_obfuscated` and anything
/// else.
fn node_address(node: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some((ip, None));
    }
    if let Some(inner) = node
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return IpAddr::from_str(inner).ok().map(|ip| (ip, None));
    }
    SocketAddr::from_str(node)
        .ok()
        .map(|address| (address.ip(), Some(address.port())))
}

/// The proxies whose forwarded addresses a server believes: networks in CIDR notation
/// (`10.0.0.0/8`, `fd00::/8`) or single addresses (`127.0.0.1`, `::1`). Empty by default:
/// forwarded headers are then ignored, and the client is the connection's peer.
///
/// ```
/// use hyperf_http::server::{ServerSpec, TrustedProxies};
///
/// let proxies: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// let spec = ServerSpec::new("http", "127.0.0.1", 9501).trusted_proxies(proxies);
/// # let _ = spec;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<Network>,
}

/// An address and how many of its leading bits a member shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl TrustedProxies {
    /// No proxy is trusted.
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// The networks of `items`, each in CIDR notation or a single address.
    ///
    /// # Errors
    ///
    /// The first item that is neither.
    pub fn parse<I, S>(items: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = items
            .into_iter()
            .map(|item| Network::parse(item.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` is in one of the networks (an IPv4 address written as IPv6,
    /// `::ffff:10.0.0.1`, counts as the IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|network| network.contains(ip))
    }
}

/// A list of networks, or one string of them separated by commas (TOML:
/// `trusted_proxies = ["10.0.0.0/8", "::1"]`).
impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            List(Vec<String>),
            Joined(String),
        }
        match Written::deserialize(deserializer)? {
            Written::List(items) => TrustedProxies::parse(items),
            Written::Joined(list) => list.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A comma-separated list, as [`TrustedProxies::parse`] takes it.
impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    fn from_str(list: &str) -> Result<Self, InvalidProxy> {
        TrustedProxies::parse(
            list.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty()),
        )
    }
}

impl Network {
    fn parse(text: &str) -> Result<Self, InvalidProxy> {
        let invalid = || InvalidProxy(text.to_string());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address.trim())
            .map_err(|_| invalid())?
            .to_canonical();
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| invalid())?,
        };
        if prefix > bits {
            return Err(invalid());
        }
        Ok(Network { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => same_prefix(
                network.to_bits().into(),
                ip.to_bits().into(),
                self.prefix,
                32,
            ),
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                same_prefix(network.to_bits(), ip.to_bits(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Whether `a` and `b`, of `bits` bits, share their first `prefix` bits.
fn same_prefix(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    shift >= bits || (a ^ b) >> shift == 0
}

/// A trusted proxy that is neither an address nor a network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidProxy(String);

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an address or a network in CIDR notation (10.0.0.0/8, fd00::/8)",
            self.0
        )
    }
}

impl std::error::Error for InvalidProxy {}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    const LOCAL: &str = "127.0.0.1:9501";

    fn resolved(from: &str, headers: &[(&str, &str)], trusted: &str) -> ClientAddr {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        ClientAddr::resolve(peer(from), peer(LOCAL), &map, &trusted.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_client_is_the_peer_whatever_the_headers_say() {
        let client = resolved("192.0.2.7:5000", &[("x-forwarded-for", "203.0.113.1")], "");
        assert_eq!(
            (client.ip(), client.port()),
            (peer("192.0.2.7:5000").ip(), Some(5000))
        );
        assert!(client.is_direct());
    }

    #[test]
    fn an_untrusted_peers_forwarded_headers_are_ignored() {
        let client = resolved(
            "192.0.2.7:5000",
            &[
                ("x-forwarded-for", "203.0.113.1"),
                ("x-forwarded-proto", "https"),
            ],
            "10.0.0.0/8",
        );
        assert_eq!(client.ip().to_string(), "192.0.2.7");
        assert_eq!(client.scheme(), "http");
    }

    #[test]
    fn a_trusted_peer_forwards_the_client_and_its_scheme() {
        let client = resolved(
            "10.0.0.2:5000",
            &[
                ("x-forwarded-for", "203.0.113.1"),
                ("x-forwarded-proto", "https"),
            ],
            "10.0.0.0/8",
        );
        assert_eq!(
            (client.ip().to_string(), client.port()),
            ("203.0.113.1".into(), None)
        );
        assert_eq!(client.scheme(), "https");
        assert!(!client.is_direct());
    }

    #[test]
    fn hops_are_believed_right_to_left_up_to_the_first_untrusted_one() {
        let client = resolved(
            "10.0.0.2:5000",
            &[("x-forwarded-for", "198.51.100.9, 203.0.113.1, 10.0.0.3")],
            "10.0.0.0/8",
        );
        assert_eq!(client.ip().to_string(), "203.0.113.1");
    }

    #[test]
    fn when_every_hop_is_trusted_the_first_is_the_client() {
        let client = resolved(
            "10.0.0.2:5000",
            &[("x-forwarded-for", "10.9.9.9, 10.0.0.3")],
            "10.0.0.0/8",
        );
        assert_eq!(client.ip().to_string(), "10.9.9.9");
    }

    #[test]
    fn every_field_line_of_x_forwarded_for_counts_in_order() {
        let client = resolved(
            "10.0.0.2:5000",
            &[
                ("x-forwarded-for", "198.51.100.9"),
                ("x-forwarded-for", "10.0.0.3"),
            ],
            "10.0.0.0/8",
        );
        assert_eq!(client.ip().to_string(), "198.51.100.9");
    }

    #[test]
    fn a_hop_that_is_not_an_address_ends_the_walk_at_the_last_address_known() {
        let client = resolved(
            "10.0.0.2:5000",
            &[("x-forwarded-for", "203.0.113.1, unknown, 10.0.0.3")],
            "10.0.0.0/8",
        );
        assert_eq!(client.ip().to_string(), "10.0.0.3");
    }

    #[test]
    fn forwarded_takes_precedence_and_reads_quoted_ipv6_with_port_and_proto() {
        let client = resolved(
            "127.0.0.1:5000",
            &[
                (
                    "forwarded",
                    r#"for="[2001:db8:cafe::17]:4711";proto=https, for=127.0.0.1"#,
                ),
                ("x-forwarded-for", "203.0.113.1"),
            ],
            "127.0.0.1",
        );
        assert_eq!(client.to_string(), "[2001:db8:cafe::17]:4711");
        assert_eq!(client.scheme(), "https");
    }

    #[test]
    fn forwarded_names_are_case_blind_and_other_parameters_ignored() {
        let client = resolved(
            "127.0.0.1:5000",
            &[(
                "forwarded",
                "By=10.1.1.1;For=192.0.2.60;Proto=http;host=example.com",
            )],
            "127.0.0.1",
        );
        assert_eq!(client.ip().to_string(), "192.0.2.60");
        assert_eq!(client.scheme(), "http");
    }

    #[test]
    fn an_obfuscated_forwarded_node_is_not_an_address() {
        let client = resolved(
            "127.0.0.1:5000",
            &[("forwarded", "for=_hidden")],
            "127.0.0.1",
        );
        assert!(client.is_direct());
    }

    #[test]
    fn an_ipv4_peer_written_as_ipv6_is_matched_as_ipv4() {
        let client = resolved(
            "[::ffff:10.0.0.2]:5000",
            &[("x-forwarded-for", "203.0.113.1")],
            "10.0.0.0/8",
        );
        assert_eq!(client.ip().to_string(), "203.0.113.1");
    }

    #[test]
    fn networks_match_by_prefix() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.0/24, ::1, fd00::/8, 0.0.0.0/0"
            .parse()
            .unwrap();
        for ip in ["10.255.0.1", "192.168.1.200", "::1", "fd12::1", "8.8.8.8"] {
            assert!(proxies.contains(ip.parse().unwrap()), "{ip}");
        }
        let narrow: TrustedProxies = "192.168.1.0/24".parse().unwrap();
        assert!(!narrow.contains("192.168.2.1".parse().unwrap()));
        assert!(!narrow.contains("::1".parse().unwrap()));
    }

    #[test]
    fn a_proxy_that_is_not_an_address_or_network_is_refused() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0/8",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }
}
