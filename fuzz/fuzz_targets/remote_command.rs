//! libFuzzer entry for `wharf_fuzz::remote_command`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::remote_command::run(data));
