#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whoisd_fuzz::proxy(data));
