//! `diag_applet`: the body is [`cardgate_tests::fuzzing::diag_applet`] (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardgate_tests::fuzzing::diag_applet(data));
