//! `greenlight-sim`: the town simulation (arrives with its own issue).
#![forbid(unsafe_code)]

fn main() {}
