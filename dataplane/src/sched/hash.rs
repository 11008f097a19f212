//! Stable, specified hash functions for the hashing schedulers. Their outputs are part of the
//! fleet-wide contract (every box must map a flow to the same dest), so they are written out
//! here rather than borrowed from `std` (whose `DefaultHasher` may change between releases).
//!
//! - [`hash_32`]: the kernel's multiplicative `hash_32()` (`GOLDEN_RATIO_32 = 0x61C88647`, top
//!   `bits` bits of the product), as IPVS sh/dh use it.
//! - [`hsiphash_u32`]: the kernel's `hsiphash()` of a 4-byte value on 64-bit machines, which is
//!   SipHash-1-3 with a 128-bit key `(k, k)`, output truncated to its low 32 bits; the value is
//!   hashed as its 4 little-endian bytes. IPVS mh uses it with two fixed keys.

use std::net::IpAddr;

/// The kernel's `GOLDEN_RATIO_32` (include/linux/hash.h).
const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// Kernel `hash_32(val, bits)`: `(val * GOLDEN_RATIO_32) >> (32 - bits)`, for `1 <= bits <= 32`.
#[inline]
pub(super) fn hash_32(val: u32, bits: u32) -> u32 {
    debug_assert!((1..=32).contains(&bits));
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// IPVS address fold: IPv4 as its host-order value, IPv6 as the XOR of its four 32-bit words
/// (each taken in host order).
#[inline]
pub(super) fn addr_fold(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(*a),
        IpAddr::V6(a) => {
            let s = a.segments();
            let w = |i: usize| (u32::from(s[i]) << 16) | u32::from(s[i + 1]);
            w(0) ^ w(2) ^ w(4) ^ w(6)
        }
    }
}

/// Kernel `hsiphash(&v, 4, {k, k})` on a 64-bit machine: SipHash-1-3, low 32 bits.
#[inline]
pub(super) fn hsiphash_u32(v: u32, k: u64) -> u32 {
    siphash::<1, 3>(k, k, &v.to_le_bytes()) as u32
}

/// SipHash-c-d (Aumasson & Bernstein) of `data` under the key `(k0, k1)` (the two little-endian
/// halves of the 16-byte key). No allocation.
pub(super) fn siphash<const C: usize, const D: usize>(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut m = [0u8; 8];
        m.copy_from_slice(chunk);
        let m = u64::from_le_bytes(m);
        v[3] ^= m;
        for _ in 0..C {
            sip_round(&mut v);
        }
        v[0] ^= m;
    }
    let mut b = (data.len() as u64 & 0xff) << 56;
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        b |= u64::from(byte) << (8 * i);
    }
    v[3] ^= b;
    for _ in 0..C {
        sip_round(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: (u64, u64) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908); // bytes 00..0f

    #[test]
    fn siphash24_reference_vectors() {
        // From the SipHash paper / reference implementation (vectors.h), key 00..0f,
        // message 00..(n-1).
        let msg: Vec<u8> = (0..64).collect();
        assert_eq!(
            siphash::<2, 4>(KEY.0, KEY.1, &msg[..0]),
            0x726f_db47_dd0e_0e31
        );
        assert_eq!(
            siphash::<2, 4>(KEY.0, KEY.1, &msg[..15]),
            0xa129_ca61_49be_45e5
        );
    }

    #[test]
    fn siphash13_vectors() {
        // Cross-checked against CPython's built-in bytes hash (SipHash-1-3 with a zero key
        // under PYTHONHASHSEED=0) and an independent Python SipHash.
        assert_eq!(siphash::<1, 3>(0, 0, b"abc") as i64, -4594863902769663758);
        assert_eq!(
            siphash::<1, 3>(0, 0, &[0, 1, 2, 3]) as i64,
            8990380680374275517
        );
    }

    #[test]
    fn hsiphash_matches_independent_reference() {
        // IPVS mh keys; values from an independent Python implementation.
        const K1: u64 = 2654435761;
        const K2: u64 = 2654446892;
        assert_eq!(hsiphash_u32(0, K1), 492468162);
        assert_eq!(hsiphash_u32(0, K2), 4169286463);
        assert_eq!(hsiphash_u32(1, K1), 384591538);
        assert_eq!(hsiphash_u32(0x0a00_0001 + 80, K1), 1134300350);
        assert_eq!(hsiphash_u32(0x0a00_0001 + 80, K2), 2545146951);
    }

    #[test]
    fn hash_32_and_fold() {
        let a: IpAddr = "192.168.1.10".parse().unwrap();
        assert_eq!(addr_fold(&a), 0xc0a8_010a);
        assert_eq!(hash_32(addr_fold(&a), 8), 248);
        assert_eq!(hash_32(addr_fold(&a) + 1234, 8), 81);
        let b: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(hash_32(addr_fold(&b), 8), 2);
        let c: IpAddr = "2001:db8::5".parse().unwrap();
        assert_eq!(addr_fold(&c), 0x2001_0db8 ^ 5);
        assert_eq!(hash_32(addr_fold(&c), 8), 198);
        assert_eq!(
            hash_32(u32::MAX, 32),
            u32::MAX.wrapping_mul(GOLDEN_RATIO_32)
        );
    }
}
