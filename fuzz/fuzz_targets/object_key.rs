//! libFuzzer entry for `wharf_fuzz::object_key`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::object_key::run(data));
