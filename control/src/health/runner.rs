//! The checker thread: a tokio runtime of its own (current-thread, on the cpu of the thread
//! that starts it: the main lcore's) running one task per checker, so that a slow or hung
//! server delays only its own checks. Each task waits a random part of its warmup, then
//! checks every `delay_loop`. As keepalived's: while the server passes, a failed attempt is
//! retried `retry` times `delay_before_retry` apart before it counts; the first check and the
//! checks of a failed server count at once. Every outcome goes to the control thread as a
//! [`Report`].

use super::{probe, Report, Target};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The running checker thread; dropping it stops every check and waits for the thread.
pub struct Runner {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    reports: mpsc::Receiver<Report>,
}

impl Runner {
    /// Starts checking `targets` (a report's `checker` is the index in it).
    pub fn start(targets: Vec<Target>) -> std::io::Result<Runner> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let (report_tx, reports) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rvs-health".into())
            .spawn(move || {
                runtime.block_on(async move {
                    for (i, t) in targets.into_iter().enumerate() {
                        tokio::spawn(check_loop(i, t, report_tx.clone()));
                    }
                    let _ = stopped.await;
                });
                // Dropping the runtime cancels the tasks (and kills their scripts).
            })?;
        Ok(Runner {
            stop: Some(stop),
            thread: Some(thread),
            reports,
        })
    }

    /// The reports that arrived since the last call.
    pub fn reports(&self) -> impl Iterator<Item = Report> + '_ {
        self.reports.try_iter()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn check_loop(checker: usize, t: Target, reports: mpsc::Sender<Report>) {
    tokio::time::sleep(spread(checker, t.warmup)).await;
    let mut up = false;
    loop {
        let mut verdict = probe::attempt(&t).await;
        let mut retries = 0;
        while up && verdict.is_err() && retries < t.retry {
            retries += 1;
            tokio::time::sleep(t.delay_before_retry).await;
            verdict = probe::attempt(&t).await;
        }
        up = verdict.is_ok();
        let report = Report {
            checker,
            verdict,
            at: Instant::now(),
        };
        if reports.send(report).is_err() {
            return;
        }
        tokio::time::sleep(t.delay_loop).await;
    }
}

/// A pseudo-random part of `warmup` for checker `i`, so that checkers do not start together.
fn spread(i: usize, warmup: Duration) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let nanos = now.map_or(0, |d| u64::from(d.subsec_nanos()));
    let x = (i as u64 ^ nanos)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17);
    warmup.mul_f64((x % 1000) as f64 / 1000.0)
}
