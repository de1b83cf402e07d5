//! The one error type of the walkthrough: which step of the story failed,
//! and why.
//!
//! The story only calls the real libraries and the real server, so a
//! failure is either an error of theirs at a named step (a signature that
//! did not verify, a request the server refused, a store that failed) or a
//! broken assumption of the story itself (a venue the tracer's queue does
//! not list). Both abort the run with a message that names the step; they
//! are never turned into a color.

use core::fmt;

/// Why the walkthrough could not run to its end.
#[derive(Debug)]
pub(crate) struct SimError {
    step: String,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Library(Box<dyn std::error::Error + Send + Sync>),
    Story(String),
}

impl SimError {
    /// A broken assumption of the story, not an error of a library.
    pub(crate) fn story(step: impl Into<String>, why: impl Into<String>) -> Self {
        SimError { step: step.into(), cause: Cause::Story(why.into()) }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Library(e) => write!(f, "{}: {e}", self.step),
            Cause::Story(why) => write!(f, "{}: {why}", self.step),
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Library(e) => Some(e.as_ref()),
            Cause::Story(_) => None,
        }
    }
}

/// Names the step a library call belongs to.
pub(crate) trait During<T> {
    /// Turns the library's error into a [`SimError`] at `step`.
    fn during(self, step: &str) -> Result<T, SimError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> During<T> for Result<T, E> {
    fn during(self, step: &str) -> Result<T, SimError> {
        self.map_err(|e| SimError { step: step.to_owned(), cause: Cause::Library(Box::new(e)) })
    }
}
