#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monstrum_fuzz::command(data));
