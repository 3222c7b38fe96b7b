//! The lab's address plan: one 127.A.B.0/24 block per lab, reserved across processes
//! by binding a lock socket in it, with fixed host numbers per role.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Mutex;

use crate::ids::random_u64;
use crate::LabError;

/// Host numbers inside the block.
pub(crate) mod host {
    /// The VPC resolver: the base of the VPC's CIDR (`.0/25`) plus two, as in AWS.
    pub const DNS: u8 = 2;
    /// A DNS server of the customer's own in the VPC, not the VPC resolver
    /// (`client_resolver = "corporate"`).
    pub const CORPORATE_DNS: u8 = 53;
    /// A public DNS server (`doctor.check_public`): answers the API's name from public DNS.
    pub const PUBLIC_DNS: u8 = 88;
    /// The diagnosing host's instance metadata service (IMDSv2).
    pub const IMDS: u8 = 169;
    /// First endpoint ENI; the n-th AZ gets `ENI + n`.
    pub const ENI: u8 = 11;
    pub const NLB_A: u8 = 101;
    pub const NLB_B: u8 = 102;
    /// First PrivateLink (consumer interface endpoint) ENI; two of them.
    pub const PRIVATELINK: u8 = 111;
    /// First of two stale addresses NLB A targets under `targets = "ip_drift"` (drop SYNs).
    pub const STALE_TARGET: u8 = 113;
    pub const PROVIDER_NLB: u8 = 121;
    pub const BACKEND_A: u8 = 131;
    pub const BACKEND_B: u8 = 141;
    pub const PUBLIC_FRONT_END: u8 = 200;
    pub const LOCK: u8 = 254;
}

/// UDP port of the block lock socket on 127.A.B.254.
const LOCK_PORT: u16 = 47_391;

/// Blocks taken by labs of this process (the lock socket covers other processes).
static TAKEN: Mutex<Vec<(u8, u8)>> = Mutex::new(Vec::new());

/// A reserved 127.A.B.0/24 block; released on drop.
#[derive(Debug)]
pub(crate) struct Block {
    a: u8,
    b: u8,
    _lock: UdpSocket,
}

impl Block {
    /// Picks a random free block with A in 64..=126.
    pub(crate) fn reserve() -> Result<Block, LabError> {
        const ATTEMPTS: usize = 256;
        for _ in 0..ATTEMPTS {
            let r = random_u64();
            let a = 64 + (r % 63) as u8;
            let b = ((r >> 8) % 256) as u8;
            let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
            if taken.contains(&(a, b)) {
                continue;
            }
            // No SO_REUSEADDR: a second bind of the same address fails in any process.
            if let Ok(lock) = UdpSocket::bind((Ipv4Addr::new(127, a, b, host::LOCK), LOCK_PORT)) {
                taken.push((a, b));
                return Ok(Block { a, b, _lock: lock });
            }
        }
        Err(LabError::NoFreeBlock(ATTEMPTS))
    }

    /// The address of `host` in this block.
    pub(crate) fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.a, self.b, host)
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        taken.retain(|&t| t != (self.a, self.b));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocks_are_distinct_and_loopback() {
        let x = super::Block::reserve().unwrap();
        let y = super::Block::reserve().unwrap();
        assert_ne!(x.ip(1), y.ip(1));
        assert!(x.ip(53).is_loopback());
        assert!((64..=126).contains(&x.ip(1).octets()[1]));
    }
}
