//! The allowed networks of a `cidr` dimension, and the addresses a call gives it.
//!
//! Addresses and networks are parsed by the standard library and `ipnet`. A plain dotted IPv4
//! address, the common case, is read by a short fast path and compared with the IPv4 networks
//! as integers; the fast path takes only the canonical form (four decimal parts, no leading
//! zero, each at most 255), which the standard parser reads to the same address, and leaves
//! anything else to the standard parser.

use ipnet::IpNet;
use std::net::IpAddr;

/// The networks of one dimension.
#[derive(Debug)]
pub(crate) struct Nets {
    nets: Vec<IpNet>,
    /// The IPv4 networks as (network, mask), for the fast path.
    v4: Vec<(u32, u32)>,
}

impl Nets {
    /// Parses each value as an address or a network.
    pub(crate) fn new(values: &[String]) -> Result<Nets, String> {
        let nets: Vec<IpNet> = values
            .iter()
            .map(|s| parse_net(s).ok_or_else(|| format!("`{s}` is not an IP network")))
            .collect::<Result<_, _>>()?;
        let v4 = nets
            .iter()
            .filter_map(|n| match n {
                IpNet::V4(v4) => Some((u32::from(v4.network()), u32::from(v4.netmask()))),
                IpNet::V6(_) => None,
            })
            .collect();
        Ok(Nets { nets, v4 })
    }

    /// Whether `text` is an address or network inside one of the networks; `None` when it is
    /// neither an address nor a network.
    pub(crate) fn contain(&self, text: &str) -> Option<bool> {
        if let Some(addr) = dotted_v4(text.as_bytes()) {
            // An IPv4 address lies only in IPv4 networks (mapped IPv6 networks became IPv4 ones).
            return Some(self.v4.iter().any(|&(net, mask)| addr & mask == net));
        }
        let net = parse_net(text)?;
        Some(self.nets.iter().any(|n| n.contains(&net)))
    }

    /// The networks as parsed.
    pub(crate) fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

/// An address or network, with IPv4-mapped IPv6 addresses read as IPv4.
fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Some(IpNet::from(addr.to_canonical()));
    }
    let net = s.parse::<IpNet>().ok()?;
    match net {
        // Only a network that lies wholly inside `::ffff:0:0/96` is IPv4; a wider one (`/64`)
        // also holds IPv6 addresses that no IPv4 network contains.
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok(),
            _ => Some(net),
        },
        IpNet::V4(_) => Some(net),
    }
}

/// A canonical dotted IPv4 address (`192.168.4.20`) as an integer, or `None` for anything else
/// (which the standard parser then reads or refuses).
fn dotted_v4(bytes: &[u8]) -> Option<u32> {
    let (mut addr, mut rest) = (0u32, bytes);
    for part in 0..4 {
        if part > 0 {
            rest = rest.strip_prefix(b".")?;
        }
        let (value, len) = octet(rest)?;
        addr = addr << 8 | value;
        rest = &rest[len..];
    }
    rest.is_empty().then_some(addr)
}

/// The decimal number of one to three digits at the start of `bytes`, and its length. A zero is
/// one digit long, so a leading zero (`01`) leaves a digit where a dot or the end must be.
fn octet(bytes: &[u8]) -> Option<(u32, usize)> {
    let digit = |i: usize| bytes.get(i).filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0'));
    let first = digit(0)?;
    if first == 0 {
        return Some((0, 1));
    }
    match (digit(1), digit(2)) {
        (Some(second), Some(third)) => {
            let value = first * 100 + second * 10 + third;
            (value <= 255).then_some((value, 3))
        }
        (Some(second), None) => Some((first * 10 + second, 2)),
        _ => Some((first, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// The fast path reads exactly the IPv4 addresses that the standard parser reads.
    #[test]
    fn the_fast_path_agrees_with_the_standard_parser() {
        let mut tried = 0;
        let parts = ["0", "1", "9", "10", "01", "00", "255", "256", "099", "1000", "", "a", "-1", "+1", " 1"];
        for a in parts {
            for b in parts {
                for text in [
                    format!("{a}.{b}.{a}.{b}"),
                    format!("{b}.{a}.1.2"),
                    format!("1.2.{a}.{b}"),
                    format!("{a}.{b}.1"),
                    format!("{a}.{b}.1.2.3"),
                    format!("{a}.{b}.1.2."),
                    format!(".{a}.{b}.1.2"),
                ] {
                    let std = text.parse::<Ipv4Addr>().ok().map(u32::from);
                    assert_eq!(dotted_v4(text.as_bytes()), std, "{text:?}");
                    tried += 1;
                }
            }
        }
        assert!(tried > 1000);
        assert_eq!(dotted_v4(b"192.168.4.20"), Some(u32::from(Ipv4Addr::new(192, 168, 4, 20))));
    }

    #[test]
    fn addresses_and_networks_are_contained() {
        let nets = Nets::new(&["10.0.0.0/8".into(), "192.168.0.0/16".into(), "2001:db8::/32".into()]).unwrap();
        for (text, inside) in [
            ("10.1.2.3", Some(true)),
            ("192.168.4.20", Some(true)),
            ("172.16.0.1", Some(false)),
            ("10.0.0.0/9", Some(true)),
            ("10.0.0.0/7", Some(false)),
            ("::ffff:10.1.2.3", Some(true)),
            ("2001:db8::1", Some(true)),
            ("2001:db9::1", Some(false)),
            ("010.1.2.3", None),
            ("10.1.2", None),
            ("host.internal", None),
        ] {
            assert_eq!(nets.contain(text), inside, "{text}");
        }
    }
}
