//! Placeholder binary: this component is specified in `spec/protocol.md` and
//! arrives with its own issue. It exits with an error rather than pretend to
//! work.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    eprintln!(
        "{} {} is not implemented yet; see README.md for what runs today",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::FAILURE
}
