//! Which IP addresses a webhook may never reach, and why. The tables are the IANA special-purpose
//! registries (RFC 6890 and successors) narrowed to what matters for server-side request forgery:
//! everything that is not ordinary public unicast is refused, and an IPv4 address carried inside
//! an IPv6 one (mapped, compatible, NAT64, 6to4) is judged by the IPv4 address it carries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{AddressPolicy, BlockReason, Blocked};

/// Instance metadata services: AWS/GCP/Azure/Oracle/OpenStack, AWS ECS task metadata, EKS pod
/// identity, Alibaba Cloud. Named apart from their ranges so that probing them is visible.
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
];

/// AWS instance metadata and EKS pod identity over IPv6.
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0023),
];

/// First match wins, so the broadcast address comes before the reserved block holding it.
const V4_RANGES: [(Ipv4Addr, u32, BlockReason); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, BlockReason::Unspecified),
    (Ipv4Addr::new(127, 0, 0, 0), 8, BlockReason::Loopback),
    (Ipv4Addr::new(10, 0, 0, 0), 8, BlockReason::Private),
    (Ipv4Addr::new(172, 16, 0, 0), 12, BlockReason::Private),
    (Ipv4Addr::new(192, 168, 0, 0), 16, BlockReason::Private),
    (Ipv4Addr::new(169, 254, 0, 0), 16, BlockReason::LinkLocal),
    (Ipv4Addr::new(100, 64, 0, 0), 10, BlockReason::Cgnat),
    (Ipv4Addr::new(192, 0, 0, 0), 24, BlockReason::IetfProtocol),
    (Ipv4Addr::new(192, 0, 2, 0), 24, BlockReason::Documentation),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        BlockReason::Documentation,
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        BlockReason::Documentation,
    ),
    (Ipv4Addr::new(198, 18, 0, 0), 15, BlockReason::Benchmarking),
    // The deprecated 6to4 relay anycast block (RFC 7526).
    (Ipv4Addr::new(192, 88, 99, 0), 24, BlockReason::Reserved),
    (Ipv4Addr::new(224, 0, 0, 0), 4, BlockReason::Multicast),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        BlockReason::Broadcast,
    ),
    (Ipv4Addr::new(240, 0, 0, 0), 4, BlockReason::Reserved),
];

/// Checked after the embedded-IPv4 forms; first match wins (Teredo and benchmarking sit inside
/// the IETF protocol block). Whatever falls outside 2000::/3 afterwards is refused as reserved.
const V6_RANGES: [(Ipv6Addr, u32, BlockReason); 11] = [
    // Local-use IPv4/IPv6 translation (RFC 8215): translates to whatever the operator chose.
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        BlockReason::Private,
    ),
    // Discard-only (RFC 6666).
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        BlockReason::Reserved,
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        BlockReason::LinkLocal,
    ),
    // Site-local, deprecated (RFC 3879) but still routed inside some networks.
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        BlockReason::Private,
    ),
    // Unique local addresses.
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        BlockReason::Private,
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        BlockReason::Multicast,
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        BlockReason::Documentation,
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        BlockReason::Documentation,
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        BlockReason::Teredo,
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        BlockReason::Benchmarking,
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        BlockReason::IetfProtocol,
    ),
];

/// Refuses `ip` unless it is ordinary public unicast. `allow_loopback` lets 127.0.0.0/8 and ::1
/// through and nothing else: not a loopback address wrapped in IPv6, not private or link-local.
pub fn check_ip(ip: IpAddr, policy: &AddressPolicy) -> Result<(), Blocked> {
    let plain_loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    };
    match classify(ip) {
        None => Ok(()),
        Some(BlockReason::Loopback) if policy.allow_loopback && plain_loopback => Ok(()),
        Some(reason) => Err(Blocked { reason, addr: ip }),
    }
}

/// Why `ip` is refused whatever the policy, or `None` for public unicast.
fn classify(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    if METADATA_V4.contains(&ip) {
        return Some(BlockReason::CloudMetadata);
    }
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(net, len, _)| in_v4(bits, *net, *len))
        .map(|(_, _, reason)| *reason)
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    if METADATA_V6.contains(&ip) {
        return Some(BlockReason::CloudMetadata);
    }
    let bits = u128::from(ip);
    if bits == 0 {
        return Some(BlockReason::Unspecified);
    }
    if bits == 1 {
        return Some(BlockReason::Loopback);
    }
    if let Some((embedded, otherwise)) = embedded_v4(bits) {
        return classify_v4(embedded).or(otherwise);
    }
    if let Some((_, _, reason)) = V6_RANGES
        .iter()
        .find(|(net, len, _)| in_v6(bits, *net, *len))
    {
        return Some(*reason);
    }
    // Only 2000::/3 is allocated as global unicast.
    if !in_v6(bits, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Some(BlockReason::Reserved);
    }
    None
}

/// The IPv4 address inside an IPv6 form that carries one, and the verdict when that IPv4 address
/// is itself public: mapped and compatible addresses are refused regardless (a webhook host has
/// no business resolving to one), NAT64 and 6to4 reach the public address they carry.
fn embedded_v4(bits: u128) -> Option<(Ipv4Addr, Option<BlockReason>)> {
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == 0xffff {
        // ::ffff:a.b.c.d
        return Some((low32, Some(BlockReason::Ipv4Mapped)));
    }
    if bits >> 32 == 0 {
        // ::a.b.c.d (:: and ::1 are handled before)
        return Some((low32, Some(BlockReason::Ipv4Compatible)));
    }
    if in_v6(bits, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some((low32, None));
    }
    if in_v6(bits, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        let carried = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return Some((carried, None));
    }
    None
}

fn in_v4(bits: u32, net: Ipv4Addr, len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    bits & mask == u32::from(net) & mask
}

fn in_v6(bits: u128, net: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    bits & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<BlockReason> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn range_edges_are_exact() {
        // Just inside and just outside each private IPv4 block.
        assert_eq!(reason("172.16.0.0"), Some(BlockReason::Private));
        assert_eq!(reason("172.31.255.255"), Some(BlockReason::Private));
        assert_eq!(reason("172.15.255.255"), None);
        assert_eq!(reason("172.32.0.0"), None);
        assert_eq!(reason("100.63.255.255"), None);
        assert_eq!(reason("100.64.0.0"), Some(BlockReason::Cgnat));
        assert_eq!(reason("100.127.255.255"), Some(BlockReason::Cgnat));
        assert_eq!(reason("100.128.0.0"), None);
        assert_eq!(reason("198.17.255.255"), None);
        assert_eq!(reason("198.19.255.255"), Some(BlockReason::Benchmarking));
        assert_eq!(reason("198.20.0.0"), None);
        assert_eq!(reason("223.255.255.255"), None);
        assert_eq!(reason("255.255.255.254"), Some(BlockReason::Reserved));
        assert_eq!(reason("255.255.255.255"), Some(BlockReason::Broadcast));
        assert_eq!(reason("1.1.1.1"), None);
        // IPv6 edges.
        assert_eq!(reason("febf:ffff::1"), Some(BlockReason::LinkLocal));
        assert_eq!(reason("fec0::1"), Some(BlockReason::Private));
        assert_eq!(reason("fbff::1"), Some(BlockReason::Reserved));
        assert_eq!(reason("2001:db9::1"), None);
        assert_eq!(reason("2001:200::1"), None);
        assert_eq!(reason("2001:1ff::1"), Some(BlockReason::IetfProtocol));
        assert_eq!(reason("2001:2::1"), Some(BlockReason::Benchmarking));
        assert_eq!(reason("4000::1"), Some(BlockReason::Reserved));
        assert_eq!(reason("2c0f:ffff::1"), None);
    }

    #[test]
    fn embedded_ipv4_is_judged_by_what_it_carries() {
        assert_eq!(reason("64:ff9b::5db8:d822"), None);
        assert_eq!(reason("64:ff9b::7f00:1"), Some(BlockReason::Loopback));
        assert_eq!(reason("2002:5db8:d822::1"), None);
        assert_eq!(reason("2002:c0a8:101::1"), Some(BlockReason::Private));
        assert_eq!(reason("::ffff:5db8:d822"), Some(BlockReason::Ipv4Mapped));
        assert_eq!(reason("::5db8:d822"), Some(BlockReason::Ipv4Compatible));
        assert_eq!(reason("64:ff9b:1::1"), Some(BlockReason::Private));
    }
}
