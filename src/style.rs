//! Terminal styling, decided once per run: `--color auto|always|never`,
//! with `auto` meaning "the stream is a terminal, `TERM` is not `dumb` and
//! `NO_COLOR` is unset" (<https://no-color.org>). Pipes and files get plain
//! text, byte for byte what the tests pin.

/// A line on stderr. Unlike `eprintln!`, a stderr that is a closed pipe
/// is no panic: the message is lost, the run goes on.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Text on stderr as is (no newline added); see [`say!`].
#[macro_export]
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Records the command line's choice; the first call wins.
pub fn init(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

fn decide(is_terminal: bool) -> bool {
    match CHOICE.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Whether to style what goes to stderr (diagnostics, warnings).
pub fn stderr() -> bool {
    decide(std::io::stderr().is_terminal())
}

/// Whether to style what goes to stdout (reports).
pub fn stdout() -> bool {
    decide(std::io::stdout().is_terminal())
}

/// Whether progress may be drawn: only on a terminal, whatever `--color`.
pub fn progress() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// A styled span: SGR codes around `text` when `on`.
pub fn paint(on: bool, sgr: &str, text: &str) -> String {
    if on {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The SGR codes wasmunit uses, as cargo and rustc do.
pub mod sgr {
    pub const ERROR: &str = "1;31";
    pub const WARNING: &str = "1;33";
    pub const BOLD: &str = "1";
    pub const GUTTER: &str = "1;34";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_is_plain_when_off() {
        assert_eq!(paint(false, sgr::ERROR, "error"), "error");
        assert_eq!(paint(true, sgr::ERROR, "error"), "\x1b[1;31merror\x1b[0m");
    }
}
