//! Replays the committed corpus of every fuzz target: the seeds and each input that once broke
//! an invariant stay checked by `cargo test`, without a fuzzer.

use std::path::Path;

#[test]
fn every_committed_input_of_every_target_keeps_its_invariants() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    // One test, the targets one after another: the allocation probe is process-wide.
    for (name, run) in wharf_fuzz::TARGETS {
        let dir = corpus.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        inputs.sort();
        assert!(
            !inputs.is_empty(),
            "no seeds for {name} in {}",
            dir.display()
        );
        for input in inputs {
            let data = std::fs::read(&input).expect("corpus file reads");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name} broke on {}", input.display());
        }
    }
}

#[test]
fn every_target_has_a_binary_and_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("../scripts/fuzz")).expect("scripts/fuzz");
    for (name, _) in wharf_fuzz::TARGETS {
        assert!(
            root.join(format!("fuzz_targets/{name}.rs")).is_file(),
            "{name}"
        );
        assert!(root.join("corpus").join(name).is_dir(), "{name}");
        assert!(script.contains(name), "scripts/fuzz does not run {name}");
    }
}
