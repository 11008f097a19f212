//! Keyed hash of [`FlowKey`]s for the session index.
//!
//! Flow keys are chosen by whoever sends packets, so the hash is keyed with a per-table secret
//! seed (random at daemon start-up; fixed in tests). The construction is the folded 64x64->128
//! multiply used by wyhash/foldhash: each pair of 64-bit input words is XORed with secret words
//! and multiplied, and the two halves of the product are XORed together. Without the seed an
//! attacker cannot predict which keys collide. It is not a cryptographic PRF (SipHash would be,
//! at ~3x the cost); the index additionally bounds every probe sequence, so a collision attack
//! degrades lookups, never correctness.
//!
//! Cost: three 64x64->128 multiplies and a handful of XORs (~3-4 ns), no branches.

use super::key::FlowKey;

/// A keyed hasher for flow keys. Cheap to copy; one per table.
#[derive(Clone, Copy, Debug)]
pub struct FlowHasher {
    k: [u64; 6],
}

/// splitmix64 step: expands the seed into independent-looking secret words.
#[inline]
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Full 128-bit product of `a` and `b`, halves XORed.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = (a as u128).wrapping_mul(b as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

#[inline(always)]
fn halves(a: &[u8; 16]) -> (u64, u64) {
    let x = u128::from_le_bytes(*a);
    (x as u64, (x >> 64) as u64)
}

impl FlowHasher {
    /// A hasher keyed by `seed`. Different seeds give unrelated hash functions.
    pub fn new(seed: [u64; 2]) -> Self {
        let mut st = seed[0] ^ seed[1].rotate_left(32) ^ 0x243f_6a88_85a3_08d3;
        let mut k = [0u64; 6];
        for (i, w) in k.iter_mut().enumerate() {
            // Mix the second seed word into every secret so neither half is ignored.
            *w = splitmix64(&mut st) ^ seed[1].wrapping_mul(2 * i as u64 + 1);
        }
        FlowHasher { k }
    }

    /// 64-bit keyed hash of `key`. All 38 key bytes contribute.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        let (s0, s1) = halves(&key.src.0);
        let (d0, d1) = halves(&key.dst.0);
        let m =
            (key.protocol as u64) | ((key.src_port as u64) << 8) | ((key.dst_port as u64) << 24);
        let a = folded_multiply(s0 ^ self.k[0], s1 ^ self.k[1]);
        let b = folded_multiply(d0 ^ self.k[2], d1 ^ self.k[3]);
        folded_multiply(a ^ m ^ self.k[4], b ^ self.k[5])
    }
}
