//! The per-client cap on open connections (SPEC §4, `--max-connections-per-ip`): one client
//! address may hold at most so many of the `--max-connections` slots, so a single host cannot
//! take them all. An IPv6 client is counted by its /64 (one host usually owns a whole /64);
//! an IPv4-mapped IPv6 address counts as its IPv4 address.
//!
//! It owns the table of open connections per address and nothing else: the caller decides
//! who is exempt (trusted proxies) and what to do with a refused connection.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Open connections per client address, each at most `limit`.
pub struct PerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of one address; dropping it frees the address's slot.
pub struct IpSlot {
    table: Arc<PerIp>,
    key: IpAddr,
}

impl PerIp {
    pub fn new(limit: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`, or `None` when its address already holds `limit` connections.
    pub fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: self.clone(),
            key,
        })
    }

    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.open.lock().unwrap().len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The address a client is counted under: IPv4 as is, IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_limit_and_gets_slots_back_on_close() {
        let table = PerIp::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.try_take(a).unwrap();
        let _second = table.try_take(a).unwrap();
        assert!(table.try_take(a).is_none());
        assert!(table.try_take(b).is_some());
        drop(first);
        assert!(table.try_take(a).is_some());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let table = PerIp::new(1);
        let _held = table.try_take("2001:db8::1".parse().unwrap()).unwrap();
        assert!(table.try_take("2001:db8::2".parse().unwrap()).is_none());
        assert!(table.try_take("2001:db8:0:1::1".parse().unwrap()).is_some());
        let _v4 = table.try_take("192.0.2.9".parse().unwrap()).unwrap();
        assert!(
            table
                .try_take("::ffff:192.0.2.9".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn closed_addresses_leave_the_table() {
        let table = PerIp::new(4);
        drop(table.try_take("192.0.2.1".parse().unwrap()));
        assert_eq!(table.addresses(), 0);
    }
}
