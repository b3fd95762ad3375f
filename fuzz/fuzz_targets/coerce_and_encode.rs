//! libFuzzer entry point: every input goes through [`ferry_fuzz::check`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _accepted = ferry_fuzz::check(data);
});
