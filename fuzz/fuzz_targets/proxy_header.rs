//! libFuzzer entry for `wharf_fuzz::proxy_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::proxy_header::run(data));
