//! End-to-end tests of Greenlight live in `e2e/`; this library is empty.
//! See `README.md` beside this file.
