//! libFuzzer entry for `wharf_fuzz::jail_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::jail_path::run(data));
