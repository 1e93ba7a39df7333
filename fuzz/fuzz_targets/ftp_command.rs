//! libFuzzer entry for `wharf_fuzz::ftp_command`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::ftp_command::run(data));
