//! The main demo runs clean: every scenario passes and the frames it
//! prints include what the scenarios promise (metadata, a deadline reset,
//! an error status in trailers-only form).

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
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
    for promised in [
        "x-token-bin: 3q2+7w",
        // Which side's timer fires first varies; the header does not.
        "grpc-timeout: ",
        "=> deadline: ok (Some(DeadlineExceeded)",
        "grpc-message: no such thing: 100%25 sure, grpc-status-details-bin: CAM",
        "HEADERS stream=1 END_STREAM [grpc-status: 0, x-seen-user: demo]",
    ] {
        assert!(
            stdout.contains(promised),
            "missing {promised:?} in:\n{stdout}"
        );
    }
}
