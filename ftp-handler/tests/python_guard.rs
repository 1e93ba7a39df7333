//! The Python test drivers' checks cannot be switched off: the helper that runs every script
//! drops an inherited `PYTHONOPTIMIZE` (which strips every `assert`), and a script whose
//! interpreter has assertions off all the same stops before doing anything.

#[path = "common/mod.rs"]
mod common;

use std::ffi::OsStr;

const FAILING_CHECK: &str = "assert 1 == 2, 'the check ran'\nprint('ok')";

#[test]
fn a_failing_assert_fails_the_script() {
    let output = common::python::script(FAILING_CHECK)
        .output()
        .expect("python3 must be installed to run this test");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("the check ran"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("ok"));
}

#[test]
fn an_inherited_pythonoptimize_is_not_passed_to_scripts() {
    let command = common::python::script(FAILING_CHECK);
    let cleared = command
        .get_envs()
        .any(|(key, value)| key == OsStr::new("PYTHONOPTIMIZE") && value.is_none());
    assert!(
        cleared,
        "the helper must remove PYTHONOPTIMIZE from the child's environment"
    );
}

#[test]
fn a_script_run_with_assertions_off_stops_before_its_checks() {
    // As if the variable reached the interpreter anyway.
    let output = common::python::script(FAILING_CHECK)
        .env("PYTHONOPTIMIZE", "2")
        .output()
        .expect("python3 must be installed to run this test");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("assertions are off"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("ok"));
}
