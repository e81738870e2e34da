#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkdb_fuzz::change(data));
