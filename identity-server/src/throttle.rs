//! Who the client is, for per-address limits: its address (through trusted proxies only) and the
//! network key every throttle and lockout counts by.
//!
//! Behind a load balancer every request arrives from the balancer's address; the client's own
//! address is in `X-Forwarded-For` or `Forwarded` (RFC 7239). Anyone can send those headers, so
//! they are read only when the socket peer is in `trusted_proxies`, only the ONE header the
//! proxies are configured to write (`forwarded_header`; a proxy that appends to
//! `X-Forwarded-For` passes a client's own `Forwarded` through untouched), and then from the
//! right: each trusted hop is skipped, and the first address that is not a trusted proxy is the
//! client (a client cannot push its own value past the proxies, which append).

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::web;

use crate::state::AppState;

/// The throttle key of an address: an IPv4 address as is, an IPv6 address by its /64 network
/// (one host usually owns a whole /64 and can rotate through it at will).
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A trusted proxy: an address or a CIDR network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "not an ip address or cidr network".to_owned())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
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

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Which forwarding header the trusted proxies write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx `$proxy_add_x_forwarded_for`, HAProxy `option forwardfor`).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// Parses the setting `forwarded_header`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!("'{other}' is not 'x-forwarded-for' or 'forwarded'")),
        }
    }
}

/// The trusted proxies of the settings (validated at start-up).
pub fn parse_proxies(list: &[String]) -> Vec<ProxyNet> {
    list.iter()
        .filter_map(|s| ProxyNet::parse(s).ok())
        .collect()
}

/// The client's address: the socket peer, or — when the peer is a trusted proxy — the first
/// untrusted address of the forwarding chain read from the right.
pub fn client_addr_with(
    req: &HttpRequest,
    proxies: &[ProxyNet],
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = canonical(req.peer_addr()?.ip());
    let trusted = |ip: IpAddr| proxies.iter().any(|p| p.contains(ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let chain = forwarded_chain(req, header);
    // From the right: skip trusted hops; the first other address is the client.
    for ip in chain.iter().rev() {
        if !trusted(*ip) {
            return Some(*ip);
        }
    }
    // Every hop is trusted (or there is no header): the leftmost one, else the peer.
    Some(chain.first().copied().unwrap_or(peer))
}

/// The client's address through the state's trusted proxies.
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    match req.app_data::<web::Data<AppState>>() {
        Some(state) => client_addr_with(req, &state.trusted_proxies, state.forwarded_header),
        None => req.peer_addr().map(|a| canonical(a.ip())),
    }
}

/// The throttle key of the request's client (`"unknown"` without one).
pub fn peer_key(req: &HttpRequest) -> String {
    client_addr(req).map_or_else(|| "unknown".to_owned(), network_key)
}

/// Every address of the configured header (`Forwarded: for=` or `X-Forwarded-For`), left to
/// right; the other header is ignored. A malformed element resets the chain (what came before it
/// cannot be trusted to be in order).
fn forwarded_chain(req: &HttpRequest, header: ForwardedHeader) -> Vec<IpAddr> {
    let headers = req.headers();
    let mut out = Vec::new();
    if header == ForwardedHeader::Forwarded {
        let forwarded: Vec<&str> = headers
            .get_all("forwarded")
            .filter_map(|v| v.to_str().ok())
            .collect();
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let Some(value) = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
            }) else {
                continue;
            };
            match parse_forwarded_node(value) {
                Some(ip) => out.push(ip),
                None => out.clear(),
            }
        }
        return out;
    }
    for value in headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
    {
        for part in value.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => out.push(canonical(ip)),
                Err(_) => out.clear(),
            }
        }
    }
    out
}

/// `for=` node of RFC 7239: `192.0.2.60`, `"192.0.2.60:8080"`, `"[2001:db8::1]:4711"`.
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let v = value.trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        let end = rest.find(']')?;
        return rest[..end].parse().ok().map(canonical);
    }
    let host = match v.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && h.contains('.') => h,
        _ => v,
    };
    host.parse().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|s| ProxyNet::parse(s).unwrap()).collect()
    }

    #[test]
    fn ipv6_addresses_of_one_64_network_share_a_key_and_ipv4_keeps_its_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_key(a), network_key(b));
        assert_ne!(network_key(a), network_key(c));
        assert_eq!(network_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            network_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7"
        );
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let req = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.1"))
            .to_http_request();
        assert_eq!(
            client_addr_with(
                &req,
                &proxies(&["10.0.0.0/8"]),
                ForwardedHeader::XForwardedFor
            ),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            client_addr_with(&req, &[], ForwardedHeader::XForwardedFor),
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_a_spoofed_left_entry_is_skipped() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4, 198.51.100.1, 10.0.0.3"))
            .to_http_request();
        assert_eq!(
            client_addr_with(
                &req,
                &proxies(&["10.0.0.0/8"]),
                ForwardedHeader::XForwardedFor
            ),
            Some("198.51.100.1".parse().unwrap())
        );
    }

    #[test]
    fn the_forwarded_header_is_read_when_configured_and_parsed_with_ports_and_ipv6() {
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .insert_header((
                "forwarded",
                "for=\"[2001:db8::7]:4711\";proto=https, for=192.0.2.60",
            ))
            .to_http_request();
        assert_eq!(
            client_addr_with(&req, &proxies(&["127.0.0.1"]), ForwardedHeader::Forwarded),
            Some("192.0.2.60".parse().unwrap())
        );
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("forwarded", "for=\"[2001:db8::7]:4711\""))
            .to_http_request();
        assert_eq!(
            client_addr_with(&req, &proxies(&["127.0.0.1"]), ForwardedHeader::Forwarded),
            Some("2001:db8::7".parse().unwrap())
        );
    }

    #[test]
    fn a_client_sent_forwarded_header_cannot_name_the_client_behind_an_x_forwarded_for_proxy() {
        // nginx appends to X-Forwarded-For and passes the client's own Forwarded through.
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("forwarded", "for=203.0.113.66"))
            .insert_header(("x-forwarded-for", "198.51.100.7"))
            .to_http_request();
        assert_eq!(
            client_addr_with(
                &req,
                &proxies(&["127.0.0.1"]),
                ForwardedHeader::XForwardedFor
            ),
            Some("198.51.100.7".parse().unwrap())
        );
    }

    #[test]
    fn a_malformed_forwarding_header_does_not_name_a_client() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.1, garbage"))
            .to_http_request();
        assert_eq!(
            client_addr_with(
                &req,
                &proxies(&["10.0.0.0/8"]),
                ForwardedHeader::XForwardedFor
            ),
            Some("10.0.0.2".parse().unwrap())
        );
    }

    #[test]
    fn proxy_networks_parse_and_match() {
        let net = ProxyNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(
            ProxyNet::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(
            ProxyNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(ProxyNet::parse("10.0.0.0/33").is_err());
        assert!(ProxyNet::parse("example.com").is_err());
    }
}
