//! Runs the `gate` example and checks the order of what it reports.

use std::process::Command;

#[test]
fn gate_example_releases_everyone_after_start_and_stops_everything_on_exit() {
    let output = Command::new(env!("CARGO_BIN_EXE_gate")).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let position = |needle: &str| {
        stdout
            .lines()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{stdout}"))
    };

    let waiting = position("worker: starting (");
    let open = position("opening the gate");
    assert!(
        stdout
            .lines()
            .nth(waiting)
            .unwrap()
            .contains("(6 parties waiting"),
        "{stdout}"
    );
    for party in [
        "coroutine 1",
        "coroutine 2",
        "coroutine 3",
        "thread 1",
        "thread 2",
        "async task",
    ] {
        assert!(
            position(&format!("{party}: through the gate")) > open,
            "{stdout}"
        );
    }
    let exiting = position("worker: exiting");
    assert!(position("background loop: stopped") > exiting, "{stdout}");
    assert!(position("timer: last tick") > exiting, "{stdout}");
    assert!(position("is_closing = true") > exiting, "{stdout}");
}
