//! `script`: the body is [`cardgate_tests::fuzzing::script`] (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardgate_tests::fuzzing::script(data));
