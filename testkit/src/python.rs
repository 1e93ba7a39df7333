//! Python scripts as test drivers, with checks that cannot be switched off: `PYTHONOPTIMIZE`
//! (which strips every `assert`) is cleared, and the script stops first if assertions are off
//! all the same.

use std::process::Command;

/// Runs before every script: with assertions off its checks would pass without checking.
const GUARD: &str = "import sys\nif sys.flags.optimize:\n    sys.exit('assertions are off (python -O): the checks would not run')\n";

/// `python3 -c SCRIPT`, guarded; add arguments (`sys.argv[1:]`) and run it.
pub fn script(script: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .env_remove("PYTHONOPTIMIZE")
        .arg("-c")
        .arg(format!("{GUARD}{script}"));
    command
}
