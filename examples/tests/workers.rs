//! The `workers` example prints the pool's events in the seed's order.

use std::process::Command;

#[test]
fn workers_example_prints_its_events_in_order() {
    let output = Command::new(env!("CARGO_BIN_EXE_workers"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in:\n{stdout}"))
    };
    assert_eq!(at("manager started"), 0);
    assert!(at("worker 0 started (life 0)") < at("worker 1 got \"ping\" from Some(0)"));
    assert!(at("worker 1 started (life 0)") < at("worker 1 got \"ping\" from Some(0)"));
    // max_request: worker 0 recycles, stop then exit then a new life.
    assert!(at("worker 0 started (life 0)") < at("worker 0 started (life 1)"));
    assert!(at("worker 0 started (life 1)") < at("-- reload --"));
    // The reload recycles both; the shutdown stops both, then the pool ends.
    assert!(at("-- reload --") < at("worker 0 started (life 2)"));
    assert!(at("-- reload --") < at("worker 1 started (life 1)"));
    assert!(at("-- shutdown --") < at("pool shut down"));
    assert_eq!(lines[lines.len() - 2], "pool shut down");
    assert_eq!(lines[lines.len() - 1], "drained 0 coroutines, cancelled 0");
}
