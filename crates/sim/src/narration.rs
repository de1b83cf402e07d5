//! The narrated log: what each party did and what it verified, printed as
//! the story runs, wrapped to 80 columns.
//!
//! With `--json` the narrator is silent, so standard output holds nothing
//! but the JSON document.

use std::io::Write;

/// Width of every printed line, in characters.
pub(crate) const WIDTH: usize = 80;

/// Prints the story's steps, or nothing when silent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Narrator {
    enabled: bool,
}

impl Narrator {
    /// A narrator that prints when `enabled`.
    pub(crate) fn new(enabled: bool) -> Self {
        Narrator { enabled }
    }

    /// A section heading, after a blank line.
    pub(crate) fn heading(&self, text: &str) {
        if self.enabled {
            emit(&format!("\n== {text}"));
        }
    }

    /// A paragraph without a bullet.
    pub(crate) fn say(&self, text: &str) {
        self.print(text, "", "");
    }

    /// One step of the story.
    pub(crate) fn step(&self, text: &str) {
        self.print(text, "- ", "  ");
    }

    /// A detail of the previous step.
    pub(crate) fn detail(&self, text: &str) {
        self.print(text, "    ", "    ");
    }

    fn print(&self, text: &str, first: &str, rest: &str) {
        if self.enabled {
            for line in wrap(text, first, rest) {
                emit(&line);
            }
        }
    }
}

/// Writes one line to standard output. A reader that went away (`| head`)
/// is no reason to panic: the rest of the output is dropped.
pub(crate) fn emit(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `1 visit`, `2 visits`: a count with its noun.
pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// Wraps `text` at word boundaries into lines of at most [`WIDTH`]
/// characters, the first starting with `first` and the others with `rest`.
/// Explicit line breaks in `text` are kept; a word longer than a line
/// stands on a line of its own.
pub(crate) fn wrap(text: &str, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, paragraph) in text.split('\n').enumerate() {
        let mut line = String::from(if n == 0 { first } else { rest });
        let mut empty = true;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let fits = line.chars().count() + 1 + word.chars().count() <= WIDTH;
            if !empty && !fits {
                lines.push(line);
                line = String::from(rest);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_eighty_columns_with_a_hanging_indent() {
        let text = "word ".repeat(40);
        let lines = wrap(&text, "- ", "  ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH));
        assert!(lines[0].starts_with("- word"));
        assert!(lines[1].starts_with("  word"));
        assert_eq!(wrap("a\nb", "", "  "), vec!["a", "  b"]);
        assert_eq!(plural(1, "key"), "1 key");
        assert_eq!(plural(0, "key"), "0 keys");
    }
}
