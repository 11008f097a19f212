//! Golden packet tables for the packet core (see `golden/mod.rs`): every mode's sequence runs
//! through one fresh `Forwarder`; each case's verdict must match, each transmitted frame must
//! equal the expected frame byte for byte and carry correct checksums (checked with the tables'
//! own RFC 1071 code), and the counters must add up.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::forward::Forwarder;
use dataplane::snapshot::Method;
use dataplane::verdict::{DropReason, Verdict};
use dataplane::xmit::frag::Fragmenter;
use golden::{compare, mode_name, verify_checksums, Case, MODES};

/// Runs `method`'s sequence; returns one message per failed case (empty = all passed).
fn run(method: Method) -> Vec<String> {
    let (snapshot, cases) = golden::sequence(method);
    let mut fw = Forwarder::new(&golden::config(), snapshot).expect("forwarder");
    let mut failures = Vec::new();
    let mut last_now = 0;
    for case in &cases {
        assert!(case.now > last_now, "{}: time must increase", case.name);
        last_now = case.now;
        let mut buf = HeapBuf::new(&case.input);
        let verdict = fw.process(&mut buf, case.in_if, case.now);
        let s = fw.stats();
        assert_eq!(
            s.rx,
            s.tx + s.redirected + s.local + s.drops.total(),
            "{}: counters do not add up: {s:?}",
            case.name
        );
        if verdict != case.verdict {
            failures.push(format!(
                "{}: verdict {verdict:?}, expected {:?}",
                case.name, case.verdict
            ));
            continue;
        }
        if let Verdict::Fragment(out) = case.verdict {
            let mtu = fw.snapshot().interfaces[usize::from(out)].mtu;
            if let Err(e) = compare_fragments(&case.fragments, buf.data(), mtu) {
                failures.push(format!("{}: {e}", case.name));
            }
        }
        match (&case.verdict, &case.output) {
            (Verdict::Transmit(_) | Verdict::Fragment(_), Some(expected)) => {
                if let Err(e) = compare(expected, buf.data()) {
                    failures.push(format!("{}: {e}", case.name));
                }
                if let Err(e) = verify_checksums(buf.data()) {
                    failures.push(format!("{}: output checksum: {e}", case.name));
                }
            }
            (Verdict::Transmit(_) | Verdict::Fragment(_), None) => {
                failures.push(format!("{}: a Transmit case needs an output", case.name))
            }
            (_, Some(_)) => {
                failures.push(format!("{}: only Transmit cases have an output", case.name))
            }
            (_, None) => {}
        }
    }
    // Every packet counted once, under the reason the table gives.
    let s = fw.stats();
    assert_eq!(s.rx, cases.len() as u64);
    assert_eq!(s.rx, s.tx + s.redirected + s.local + s.drops.total());
    let transmitted = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Transmit(_) | Verdict::Fragment(_)))
        .count() as u64;
    assert_eq!(s.tx, transmitted, "{}: tx", mode_name(method));
    for &reason in DropReason::ALL {
        let want = cases
            .iter()
            .filter(|c| c.verdict == Verdict::Drop(reason))
            .count() as u64;
        assert_eq!(
            s.drops.get(reason),
            want,
            "{}: drops of {}",
            mode_name(method),
            reason.name()
        );
    }
    failures
}

/// The fragments rvs makes of `frame` (`xmit::frag`, as the worker sends them) against the
/// table's, byte for byte, each with a valid IPv4 header checksum.
fn compare_fragments(expected: &[Vec<u8>], frame: &[u8], mtu: u16) -> Result<(), String> {
    let mut fragmenter = Fragmenter::new(frame, mtu).map_err(|r| format!("refused: {r:?}"))?;
    let mut made = Vec::new();
    while let Some(len) = fragmenter.next_len() {
        let mut f = vec![0; len];
        fragmenter.next_into(&mut f);
        made.push(f);
    }
    if made.len() != expected.len() {
        return Err(format!(
            "{} fragments, expected {}",
            made.len(),
            expected.len()
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&made).enumerate() {
        compare(want, got).map_err(|e| format!("fragment {i}: {e}"))?;
        let l2 = if got[12..14] == [0x81, 0x00] { 18 } else { 14 };
        let hl = usize::from(got[l2] & 0x0f) * 4;
        if golden::inet_checksum(&got[l2..l2 + hl]) != 0 {
            return Err(format!("fragment {i}: bad IPv4 header checksum"));
        }
    }
    Ok(())
}

fn check(method: Method) {
    let failures = run(method);
    assert!(
        failures.is_empty(),
        "{} of the {} table failed:\n{}",
        failures.len(),
        mode_name(method),
        failures.join("\n\n")
    );
}

#[test]
fn golden_nat() {
    check(Method::Nat);
}

#[test]
fn golden_fullnat() {
    check(Method::FullNat);
}

#[test]
fn golden_dr() {
    check(Method::Dr);
}

#[test]
fn golden_tunnel() {
    check(Method::Tunnel);
}

/// The tables themselves: big enough, well-formed inputs and expected outputs, and a comparison
/// and checksum verifier that do fail on a changed byte.
#[test]
fn tables_can_fail() {
    for method in MODES {
        let (_, cases) = golden::sequence(method);
        let outputs: Vec<&Case> = cases.iter().filter(|c| c.output.is_some()).collect();
        println!(
            "{}: {} cases ({} transmitted, {} dropped)",
            mode_name(method),
            cases.len(),
            outputs.len(),
            cases.len() - outputs.len()
        );
        assert!(
            cases.len() >= 12,
            "{}: only {} cases",
            mode_name(method),
            cases.len()
        );
        for (i, case) in outputs.iter().enumerate() {
            let expected = case.output.as_ref().unwrap();
            // Expected frames are well-formed: etherparse slices IP ones, checksums verify.
            if expected[12..14] == [0x08, 0x00] {
                etherparse::SlicedPacket::from_ethernet(expected)
                    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
                assert!(
                    verify_checksums(expected).unwrap_or_else(|e| panic!("{}: {e}", case.name))
                        >= 1,
                    "{}",
                    case.name
                );
                // A changed TTL breaks the IPv4 header checksum, and the verifier says so.
                let mut bad = expected.clone();
                bad[22] ^= 0x01;
                assert!(
                    verify_checksums(&bad).is_err(),
                    "{}: checksum verifier missed a change",
                    case.name
                );
            }
            assert_eq!(compare(expected, expected), Ok(()));
            // One flipped byte, at a different place for each case, is found at its offset.
            for at in [
                (i * 37 + 5) % expected.len(),
                expected.len() - 1,
                14 + i % 20,
            ] {
                let mut flipped = expected.clone();
                flipped[at] ^= 0x01;
                let err = compare(&flipped, expected).expect_err("a flipped byte must be detected");
                assert!(err.contains(&format!("byte {at} ")), "{}: {err}", case.name);
            }
            let short = &expected[..expected.len() - 1];
            assert!(
                compare(expected, short).is_err(),
                "{}: a shorter frame must be detected",
                case.name
            );
        }
        // Valid inputs are valid: those the box transmits or that miss a session/service.
        for case in &cases {
            let clean = matches!(
                case.verdict,
                Verdict::Transmit(_)
                    | Verdict::Drop(
                        DropReason::NoSession
                            | DropReason::NotForUs
                            | DropReason::NoService
                            | DropReason::TtlExpired
                    )
            );
            if clean && case.input[12..14] == [0x08, 0x00] {
                verify_checksums(&case.input)
                    .unwrap_or_else(|e| panic!("{} input: {e}", case.name));
            }
        }
    }
}

/// A table that expects the wrong thing fails: the runner is not vacuous.
#[test]
fn runner_reports_a_wrong_table() {
    let (snapshot, mut cases) = golden::sequence(Method::Nat);
    let syn = cases
        .iter_mut()
        .find(|c| c.name == "nat/tcp-syn")
        .expect("nat/tcp-syn");
    let out = syn.output.as_mut().unwrap();
    let ttl = 14 + 8;
    out[ttl] += 1; // expect the TTL not decremented
    let mut fw = Forwarder::new(&golden::config(), snapshot).unwrap();
    let mut found = None;
    for case in &cases {
        let mut buf = HeapBuf::new(&case.input);
        fw.process(&mut buf, case.in_if, case.now);
        if case.name == "nat/tcp-syn" {
            found = Some(compare(case.output.as_ref().unwrap(), buf.data()));
        }
    }
    let err = found.unwrap().expect_err("a wrong expected TTL must fail");
    assert!(err.contains(&format!("byte {ttl} (ipv4+8)")), "{err}");
}

/// Prints every table (`cargo test --test golden -- --ignored --nocapture dump`), for review.
#[test]
#[ignore]
fn dump_tables() {
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join("")
    };
    for method in MODES {
        for case in golden::sequence(method).1 {
            println!(
                "{} if{} {:?}\n  in  {}",
                case.name,
                case.in_if,
                case.verdict,
                hex(&case.input)
            );
            if let Some(out) = &case.output {
                println!("  out {}", hex(out));
            }
        }
    }
}
