//! libFuzzer entry for `wharf_fuzz::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::frame::run(data));
