//! The trivial forwarder, as testpmd's `macswap` mode: every frame goes back out of the port it
//! came from with its source and destination MAC addresses swapped. It proves a port's I/O path
//! end to end (rx burst, mbuf access, tx burst) and is the baseline forwarder for measurements.

use crate::dpdk::{MbufBurst, RxQueue, TxQueue};

/// Packets per rx/tx burst.
pub const BURST: usize = 32;
/// Failed tx attempts for one burst before the rest is dropped and counted.
const TX_RETRIES: u32 = 8;

/// Swaps destination and source MAC (bytes 0..6 and 6..12). False for a frame too short to have
/// both addresses.
#[inline]
pub fn swap_macs(frame: &mut [u8]) -> bool {
    let Some(addrs) = frame.get_mut(..12) else {
        return false;
    };
    let (dst, src) = addrs.split_at_mut(6);
    dst.swap_with_slice(src);
    true
}

/// Where every received packet ended: `rx == tx + dropped_runt + dropped_tx_full`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MacswapStats {
    pub rx: u64,
    pub tx: u64,
    /// Shorter than two MAC addresses.
    pub dropped_runt: u64,
    /// The tx queue stayed full through every retry.
    pub dropped_tx_full: u64,
}

/// Forwards from `rx` to `tx` until `keep_going(stats, consecutive_empty_polls)` says stop.
pub fn run(
    rx: &mut RxQueue,
    tx: &mut TxQueue,
    mut keep_going: impl FnMut(&MacswapStats, u32) -> bool,
) -> MacswapStats {
    let mut stats = MacswapStats::default();
    let mut rx_burst = MbufBurst::<BURST>::new();
    let mut tx_burst = MbufBurst::<BURST>::new();
    let mut idle = 0u32;
    while keep_going(&stats, idle) {
        let n = rx.rx_burst(&mut rx_burst);
        if n == 0 {
            idle = idle.saturating_add(1);
            continue;
        }
        idle = 0;
        stats.rx += n as u64;
        for mut m in rx_burst.drain() {
            if swap_macs(m.data_mut()) {
                // Cannot fail: tx_burst is empty and both hold BURST.
                let _ = tx_burst.push(m);
            } else {
                stats.dropped_runt += 1;
            }
        }
        let mut tries = 0;
        while !tx_burst.is_empty() && tries < TX_RETRIES {
            stats.tx += tx.tx_burst(&mut tx_burst) as u64;
            tries += 1;
        }
        stats.dropped_tx_full += tx_burst.len() as u64;
        tx_burst.free_all();
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_two_addresses_and_nothing_else() {
        let mut f: Vec<u8> = (0u8..20).collect();
        assert!(swap_macs(&mut f));
        assert_eq!(f[..12], [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);
        assert_eq!(f[12..], [12, 13, 14, 15, 16, 17, 18, 19]);
    }

    #[test]
    fn refuses_runts_without_touching_them() {
        let mut f = [1u8; 11];
        assert!(!swap_macs(&mut f));
        assert_eq!(f, [1u8; 11]);
    }
}
