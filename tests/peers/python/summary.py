"""What a peer script reports: its checks, what it saw, and one
`SUMMARY <json>` line for the Rust test that runs it (see
`tests/src/peer.rs`). Exit status 1 on a failed check or an exception."""
import json
import sys

failures = []
seen = {}


def check(name, cond, got=None):
    if not cond:
        failures.append("%s: got %r" % (name, got))


def run(main):
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report anything as a failure
        failures.append("exception: %r" % (e,))
    seen["failures"] = failures
    print("SUMMARY " + json.dumps(seen))
    sys.exit(1 if failures else 0)
