//! `credit_applet`: the body is [`cardgate_tests::fuzzing::credit_applet`] (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardgate_tests::fuzzing::credit_applet(data));
