//! Identifiers API Gateway stamps on responses (`x-amzn-RequestId`, `x-amz-apigw-id`,
//! `X-Amzn-Trace-Id`) and the lab's small pseudo-random source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh pseudo-random u64 (splitmix64 over time, pid and a process-wide counter).
pub(crate) fn random_u64() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z =
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uuid-v4-shaped request id, e.g. `1b4e28ba-2fa1-41d2-883f-0016d3cca427`.
pub(crate) fn request_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// An `x-amz-apigw-id` value: 14 base64 characters and `=`.
pub(crate) fn apigw_id() -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut a, mut b) = (random_u64(), random_u64());
    let mut s = String::with_capacity(15);
    for i in 0..14 {
        let src = if i < 10 { &mut a } else { &mut b };
        s.push(B64[(*src & 63) as usize] as char);
        *src >>= 6;
    }
    s.push('=');
    s
}

/// An X-Ray trace header value `Root=1-<epoch hex>-<24 hex>`.
pub(crate) fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (a, b) = (random_u64(), random_u64());
    format!("Root=1-{:08x}-{:016x}{:08x}", secs as u32, a, b as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let id = super::request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        let g = super::apigw_id();
        assert_eq!(g.len(), 15);
        assert!(g.ends_with('='));
        assert_ne!(super::request_id(), id);
        assert!(super::trace_id().starts_with("Root=1-"));
    }
}
