//! The publisher's contract with its workers, the test playing one worker by hand on real
//! DPDK rings: tables are freed on the control thread, and late answers are not taken for
//! the answers to later requests.

#[path = "../../dataplane/tests/golden/mod.rs"]
mod golden;

use control::publish::{Publisher, RequestError, WorkerChannel};
use dataplane::dpdk::ring::{channel, Producers};
use dataplane::dpdk::{Consumer, Eal, Producer, SOCKET_ANY};
use dataplane::snapshot::{Method, Snapshot};
use dataplane::worker::{Command, Reply, ReplyBody};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const EAL_ARGS: &[&str] = &[
    "rvs-review-test",
    "--no-huge",
    "-m",
    "128",
    "--no-pci",
    "--no-shconf",
    "--no-telemetry",
    "-l",
    "0",
    "--log-level",
    "*:error",
];

fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| Eal::init(EAL_ARGS).expect("EAL init"))
}

fn snap(generation: u64) -> Arc<Snapshot> {
    let base = golden::snapshot(Method::Dr);
    let services = base.services.iter().map(|s| s.config.clone()).collect();
    Arc::new(Snapshot::build(generation, base.interfaces.clone(), services).unwrap())
}

/// A publisher with one worker whose ends the test holds.
fn one_worker(
    tag: &str,
    initial: Arc<Snapshot>,
) -> (Publisher, Consumer<Box<Command>>, Producer<Box<Reply>>) {
    let (cmd_p, cmd_c) = channel::<Box<Command>>(
        eal(),
        &format!("rv_cmd_{tag}"),
        16,
        Producers::Single,
        SOCKET_ANY,
    )
    .unwrap();
    let (rep_p, rep_c) = channel::<Box<Reply>>(
        eal(),
        &format!("rv_rep_{tag}"),
        16,
        Producers::Single,
        SOCKET_ANY,
    )
    .unwrap();
    let p = Publisher::new(
        vec![WorkerChannel {
            commands: cmd_p,
            replies: rep_c,
        }],
        initial,
    );
    (p, cmd_c, rep_p)
}

/// Worker 0's answer to its `seq`th request (0 for an install).
/// The snapshot of the next command, which must be an install (of `generation`, for the
/// message).
fn next_install(cmds: &mut Consumer<Box<Command>>, generation: u64) -> Arc<Snapshot> {
    match cmds.pop().map(|c| *c) {
        Some(Command::InstallSnapshot(s)) => s,
        _ => panic!("install {generation}"),
    }
}

fn reply(seq: u64, body: ReplyBody) -> Box<Reply> {
    Box::new(Reply {
        worker: 0,
        seq,
        body,
    })
}

/// The worker never frees a table on its own thread: with two publishes a moment apart (the
/// first acknowledged before the second), the publisher still holds the first when the worker
/// swaps to the second, and lets it go once the second is acknowledged.
#[test]
fn a_worker_never_frees_a_table() {
    let s1 = snap(1);
    let (mut p, mut cmds, mut replies) = one_worker("free", s1.clone());
    let mut worker_current = s1; // what the worker runs

    let s2 = snap(2);
    let weak2 = Arc::downgrade(&s2);
    p.publish(s2);
    let s = next_install(&mut cmds, 2);
    // The worker installs generation 2, letting generation 1 go: the publisher still has it.
    let old = std::mem::replace(&mut worker_current, s);
    assert_eq!(
        Arc::strong_count(&old),
        2,
        "the worker's and the publisher's"
    );
    drop(old);
    assert!(replies
        .push(reply(0, ReplyBody::SnapshotInstalled { generation: 2 }))
        .is_ok());
    assert!(p.wait_installed(Duration::from_secs(1)), "... and says so");

    p.publish(snap(3));
    let s = next_install(&mut cmds, 3);
    // The worker swaps to generation 3, dropping its reference to generation 2 on its thread.
    let old = std::mem::replace(&mut worker_current, s);
    assert_eq!(
        Arc::strong_count(&old),
        2,
        "someone besides the worker still holds generation 2 when the worker lets it go \
         (the worker's reference is the last: it frees the table)"
    );
    drop(old);
    assert!(
        weak2.upgrade().is_some(),
        "generation 2 was freed by the worker's swap"
    );
    assert!(replies
        .push(reply(0, ReplyBody::SnapshotInstalled { generation: 3 }))
        .is_ok());
    assert!(p.wait_installed(Duration::from_secs(1)));
    assert!(
        weak2.upgrade().is_none(),
        "released once generation 3 is everywhere"
    );
    drop(worker_current);
}

/// A worker that answers after its request timed out: its late answer is not taken for the
/// answer to the next request, which is told apart by its count.
#[test]
fn a_late_reply_is_not_the_answer_to_the_next_request() {
    let (mut p, mut cmds, mut replies) = one_worker("late", snap(1));
    let r = p.request_all(|_| Command::FlushSessions, Duration::from_millis(20));
    assert_eq!(r.err(), Some(RequestError::Timeout(vec![0])));
    // The slow worker takes the flush and answers it late.
    assert!(matches!(
        cmds.pop().as_deref(),
        Some(Command::FlushSessions)
    ));
    assert!(replies
        .push(reply(1, ReplyBody::Flushed { sessions: 7 }))
        .is_ok());
    let r = p.request_all(|_| Command::DestStats, Duration::from_millis(20));
    match r.as_deref() {
        Err(RequestError::Timeout(w)) => assert_eq!(w, &[0]),
        Ok(_) => panic!("DestStats was answered with the flush's late reply"),
    }
    // It answers the stats request late too, then the next one at once.
    assert!(matches!(cmds.pop().as_deref(), Some(Command::DestStats)));
    assert!(replies
        .push(reply(2, ReplyBody::DestStats(Vec::new())))
        .is_ok());
    assert!(replies.push(reply(3, ReplyBody::StatsZeroed)).is_ok());
    let r = p.request_all(|_| Command::ZeroStats(None), Duration::from_millis(200));
    assert!(matches!(r.as_deref(), Ok([ReplyBody::StatsZeroed])));
}
