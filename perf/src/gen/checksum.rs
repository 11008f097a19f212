//! Internet checksum (RFC 1071) pieces, kept unfolded so that templates can precompute the sum of
//! their constant bytes and add only the words that change per packet.

/// One's-complement sum of `bytes` as big-endian 16-bit words (a trailing odd byte is padded
/// with zero), not folded.
#[inline]
pub fn sum(bytes: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        s += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        s += u64::from(*b) << 8;
    }
    s
}

/// Folds a sum to 16 bits (not complemented).
#[inline]
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Sum of a u32 as two words.
#[inline]
pub fn sum_u32(v: u32) -> u64 {
    u64::from(v >> 16) + u64::from(v & 0xffff)
}

/// Sum of a u64 as four words.
#[inline]
pub fn sum_u64(v: u64) -> u64 {
    sum_u32((v >> 32) as u32) + sum_u32(v as u32)
}

/// Pseudo-header sum of IPv4 `src`, `dst`, `protocol` and L4 length.
#[inline]
pub fn pseudo(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u64 {
    sum_u32(u32::from_be_bytes(src))
        + sum_u32(u32::from_be_bytes(dst))
        + u64::from(protocol)
        + u64::from(l4_len)
}

/// The checksum to store for a sum (complemented fold).
#[inline]
pub fn finish(s: u64) -> u16 {
    !fold(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (folded).
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&b)), 0xddf2);
        assert_eq!(finish(sum(&b)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn word_helpers_match_byte_sum() {
        let v = 0x0123_4567_89ab_cdefu64;
        assert_eq!(fold(sum_u64(v)), fold(sum(&v.to_be_bytes())));
    }
}
