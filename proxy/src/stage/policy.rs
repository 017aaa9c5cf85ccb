//! Resource policies: who may call an API by source IP, as API Gateway's resource policies
//! with `aws:SourceIp` conditions. Checked right after routing, before authorizers.

use crate::error::{Rejection, ResponseType};
use gatehouse_config::raw::RawResourcePolicy;
use gatehouse_config::Errors;
use std::net::IpAddr;

/// An IP network, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("expected an IP address or network such as 10.0.0.0/8, found `{s}`");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An API's resource policy.
#[derive(Debug, Default)]
pub struct ResourcePolicy {
    /// When not empty, only these networks may call.
    pub allow: Vec<Cidr>,
    /// These may never call.
    pub deny: Vec<Cidr>,
}

impl ResourcePolicy {
    pub fn check(&self, ip: IpAddr, what: impl FnOnce() -> String) -> Result<(), Rejection> {
        let denied = self.deny.iter().any(|c| c.contains(ip))
            || (!self.allow.is_empty() && !self.allow.iter().any(|c| c.contains(ip)));
        if !denied {
            return Ok(());
        }
        let resource = what();
        Err(Rejection::new(
            ResponseType::AccessDenied,
            format!("resource policy denies {ip}"),
        )
        .with_message(format!(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: {resource} with an explicit deny"
        )))
    }
}

/// The config's `resource_policy`: its CIDR lists, each entry checked.
pub fn compile(p: &RawResourcePolicy, e: &mut Errors) -> Box<ResourcePolicy> {
    let mut list = |field: &str, items: &[String]| {
        let mut out = Vec::with_capacity(items.len());
        e.at(field, |e| {
            for (i, s) in items.iter().enumerate() {
                match Cidr::parse(s) {
                    Ok(c) => out.push(c),
                    Err(msg) => e.index(i, |e| e.push(msg)),
                }
            }
        });
        out
    };
    Box::new(ResourcePolicy {
        allow: list("allow_source_ips", &p.allow_source_ips),
        deny: list("deny_source_ips", &p.deny_source_ips),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(
            c.contains("::ffff:10.1.0.9".parse().unwrap()),
            "IPv4-mapped"
        );
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("203.0.113.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deny_wins_and_allow_lists_restrict() {
        let p = ResourcePolicy {
            allow: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            deny: vec![Cidr::parse("10.9.9.9").unwrap()],
        };
        assert!(p.check("10.1.1.1".parse().unwrap(), String::new).is_ok());
        assert!(p.check("10.9.9.9".parse().unwrap(), String::new).is_err());
        let e = p
            .check("192.0.2.1".parse().unwrap(), || "pets/prod/GET/pets".into())
            .unwrap_err();
        assert_eq!(e.kind, ResponseType::AccessDenied);
        assert!(e
            .message()
            .contains("on resource: pets/prod/GET/pets with an explicit deny"));
        assert!(ResourcePolicy::default()
            .check("192.0.2.1".parse().unwrap(), String::new)
            .is_ok());
    }
}
