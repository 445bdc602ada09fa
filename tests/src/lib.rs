//! Shared harness for the end-to-end and interop tests in `tests/tests/`.
