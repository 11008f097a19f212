//! `lcore::launch` from several threads at once: one launch wins an idle lcore, the others are
//! refused (DPDK's remote launch is the main lcore's alone; the wrapper serialises it). Its
//! own process, so that no other test launches on the worker lcore meanwhile.

mod common;

use common::*;
use dataplane::dpdk::lcore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

#[test]
fn concurrent_launches_on_one_lcore_never_both_succeed() {
    let eal = eal();
    for attempt in 0..200 {
        let go = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(Barrier::new(2));
        let (tx, rx) = mpsc::channel();
        for _ in 0..2 {
            let (go, barrier, tx) = (go.clone(), barrier.clone(), tx.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let launched = lcore::launch(eal, 1, move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    7
                });
                let _ = tx.send(launched);
            });
        }
        let first = rx.recv().unwrap();
        let second = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("attempt {attempt}: a launch hung"));
        let ok: Vec<_> = [first, second].into_iter().flatten().collect();
        assert_eq!(ok.len(), 1, "attempt {attempt}: both launches succeeded");
        go.store(true, Ordering::Release);
        for l in ok {
            assert_eq!(l.wait(), 7, "attempt {attempt}");
        }
    }
}
