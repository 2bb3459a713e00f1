//! Where the command's words go: results on standard output, progress and diagnostics on standard error.
//!
//! `println!` panics when its write fails, and a closed pipe (`sentinel keys list | head -1`) makes it fail:
//! a panic breaks the CLI's promise (a message and a non-zero exit). Results go through [`say!`], which returns
//! the error so the command stops with one; progress and notes go through [`note!`] and [`progress!`], which
//! drop a failed write, because an unreadable progress line must not stop an import half-way.

use anyhow::Context;
use std::fmt;
use std::io::Write;

/// Writes one line of the command's result to standard output; a write that fails is the command's error.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::say_line(format_args!($($arg)*))
    };
}

/// Writes one line of diagnostics to standard error, best effort.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::console::note_text(format_args!($($arg)*), "\n")
    };
}

/// Writes a progress fragment (no newline: the next one overwrites it after a `\r`) to standard error.
macro_rules! progress {
    ($($arg:tt)*) => {
        $crate::console::note_text(format_args!($($arg)*), "")
    };
}

pub fn say_line(line: fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("无法写入标准输出 / cannot write to standard output")
}

pub fn note_text(text: fmt::Arguments, end: &str) {
    // Ignored on purpose (see the module's docs): diagnostics are not the command's result.
    let _ = write!(std::io::stderr().lock(), "{text}{end}");
}
