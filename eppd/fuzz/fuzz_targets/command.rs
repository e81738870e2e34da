#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eppd_fuzz::command(data));
