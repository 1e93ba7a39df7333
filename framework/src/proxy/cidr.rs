//! Networks in CIDR notation, for the list of senders trusted to send a PROXY header.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network in CIDR form (`10.0.0.0/8`, `::1/128`); a bare address means that one host.
///
/// Host bits below the prefix are cleared, so `10.1.2.3/8` is `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address, host bits cleared.
    network: IpAddr,
    /// Leading bits that must match.
    prefix: u8,
}

/// The error for text that is not a network in CIDR form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid network {input:?}: expected ADDRESS or ADDRESS/PREFIX, e.g. 10.0.0.0/8 or ::1/128"
)]
pub struct CidrParseError {
    /// The text that was given.
    pub input: String,
}

/// An address as 128 bits: IPv4 mapped into IPv6 (`::ffff:a.b.c.d`), so both families compare.
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The mask of the leading `prefix` bits of 128.
fn mask(prefix: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    }
}

impl Cidr {
    /// The network `network/prefix`; `None` if the prefix is longer than the address.
    pub fn new(network: IpAddr, prefix: u8) -> Option<Self> {
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        let cleared = bits(network) & mask(self::Cidr::width(network, prefix));
        let network = match network {
            IpAddr::V4(_) => IpAddr::V4(
                std::net::Ipv6Addr::from(cleared)
                    .to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(cleared)),
        };
        Some(Cidr { network, prefix })
    }

    /// The prefix counted in 128-bit (mapped) space.
    fn width(network: IpAddr, prefix: u8) -> u32 {
        u32::from(prefix) + if network.is_ipv4() { 96 } else { 0 }
    }

    /// Whether `ip` lies in this network; an IPv4 address and its IPv4-mapped IPv6 form
    /// (`::ffff:10.0.0.1`) are the same address here.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let width = Self::width(self.network, self.prefix);
        let ip_bits = match ip {
            IpAddr::V4(_) => bits(ip),
            // A plain IPv6 address never lies in an IPv4 network.
            IpAddr::V6(_) if self.network.is_ipv4() => return false,
            IpAddr::V6(_) => bits(ip),
        };
        ip_bits & mask(width) == bits(self.network) & mask(width)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || CidrParseError { input: s.into() };
        let text = s.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| error())?;
        let prefix = match prefix {
            Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) && !prefix.is_empty() => {
                prefix.parse::<u8>().map_err(|_| error())?
            }
            Some(_) => return Err(error()),
            None if network.is_ipv4() => 32,
            None => 128,
        };
        Cidr::new(network, prefix).ok_or_else(error)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_single_hosts() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "127.0.0.1".parse::<Cidr>().unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!("fd00::1/8".parse::<Cidr>().unwrap().to_string(), "fd00::/8");
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "x",
            "10.0.0.0/8/8",
            "10.0.0.0/+8",
        ] {
            let error = bad.parse::<Cidr>().unwrap_err();
            assert!(
                error.to_string().contains(&format!("{bad:?}")),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn contains_checks_the_prefix_across_mapped_addresses() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(
            !net.contains(ip("::a00:1")),
            "a plain IPv6 address is not in an IPv4 net"
        );
        let host: Cidr = "127.0.0.1".parse().unwrap();
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fdff::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("2001:db8::1")));
    }
}
