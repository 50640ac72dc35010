//! The main demo runs clean: every scenario passes and the frames it
//! prints include what the scenarios promise (metadata, a deadline reset,
//! an error status in trailers-only form, the messages in DATA frames).

use std::process::Command;

#[test]
fn demo_runs_every_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
    for stack in [
        "==== core driven by hand",
        "==== blocking adapter",
        "==== tokio adapter",
    ] {
        assert!(stdout.contains(stack), "missing {stack:?} in:\n{stdout}");
    }
    for promised in [
        "x-token-bin: 3q2+7w",
        // Which side's timer fires first varies; the header does not.
        "grpc-timeout: ",
        "=> deadline: ok (Some(DeadlineExceeded)",
        "grpc-message: no such thing: 100%25 sure, grpc-status-details-bin: CAM",
        "HEADERS stream=1 END_STREAM [grpc-status: 0, x-seen-user: demo]",
        "x-served-by: by-hand",
        "x-served-by: blocking",
        "x-served-by: tokio",
        // Each DATA frame's messages are read out.
        "DATA stream=1 len=10 END_STREAM 000000000568656c6c6f | message 5 B \"hello\"",
        "| message 6 B \"tick 1\" | message 6 B \"tick 2\" | message 6 B \"tick 3\"",
    ] {
        assert!(
            stdout.contains(promised),
            "missing {promised:?} in:\n{stdout}"
        );
    }
}
