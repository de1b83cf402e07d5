//! The one error type of the walkthrough: which step of the story failed,
//! and why.
//!
//! The story only calls the real protocol, so a failure is either a
//! protocol error at a named step (a signature that did not verify, a file
//! that did not match its index entry) or a broken assumption of the story
//! itself (a file the index lists but nobody published). Both abort the run
//! with a message that names the step; they are never turned into a color.

use core::fmt;

/// Why the walkthrough could not run to its end.
#[derive(Debug)]
pub(crate) struct SimError {
    step: String,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Protocol(greenlight_protocol::Error),
    Story(String),
}

impl SimError {
    /// A broken assumption of the story, not a protocol error.
    pub(crate) fn story(step: impl Into<String>, why: impl Into<String>) -> Self {
        SimError { step: step.into(), cause: Cause::Story(why.into()) }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Protocol(e) => write!(f, "{}: {e}", self.step),
            Cause::Story(why) => write!(f, "{}: {why}", self.step),
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Protocol(e) => Some(e),
            Cause::Story(_) => None,
        }
    }
}

/// Names the step a protocol call belongs to.
pub(crate) trait During<T> {
    /// Turns a protocol error into a [`SimError`] at `step`.
    fn during(self, step: &str) -> Result<T, SimError>;
}

impl<T> During<T> for Result<T, greenlight_protocol::Error> {
    fn during(self, step: &str) -> Result<T, SimError> {
        self.map_err(|e| SimError { step: step.to_owned(), cause: Cause::Protocol(e) })
    }
}
