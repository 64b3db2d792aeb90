//! Where summaries go: redrawn in place on a terminal (plain ANSI escapes, the alternate
//! screen, the cursor hidden and restored on drop), or appended as plain text blocks.

use std::io::{self, Write};

use crate::render::Style;

/// Switches to the alternate screen, hides the cursor and clears.
const ENTER: &str = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
/// Shows the cursor and leaves the alternate screen: the terminal as it was.
pub const LEAVE: &str = "\x1b[?25h\x1b[?1049l";

/// The output of md-book.
#[derive(Debug)]
pub enum Screen {
    /// A terminal: each frame replaces the last.
    Live(Live),
    /// A pipe or `--count`: each frame is printed after the last, then an empty line.
    Plain,
}

impl Screen {
    /// A live screen on a terminal (entered now), or plain output.
    pub fn new(live: bool) -> io::Result<Self> {
        if live {
            Ok(Screen::Live(Live::enter()?))
        } else {
            Ok(Screen::Plain)
        }
    }

    /// The style frames are rendered in.
    pub fn style(&self) -> Style {
        match self {
            Screen::Live(_) => Style::Colour,
            Screen::Plain => Style::Plain,
        }
    }

    /// Shows one frame.
    pub fn draw(&mut self, lines: &[String]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match self {
            Screen::Live(_) => {
                // Home, then every line cleared to its end, then the rest of the screen: no
                // flicker, and a shorter frame leaves nothing of the last one.
                let mut frame = String::from("\x1b[H");
                for line in lines {
                    frame.push_str(line);
                    frame.push_str("\x1b[K\r\n");
                }
                frame.push_str("\x1b[J");
                out.write_all(frame.as_bytes())?;
            }
            Screen::Plain => {
                for line in lines {
                    writeln!(out, "{line}")?;
                }
                writeln!(out)?;
            }
        }
        out.flush()
    }
}

/// The terminal while md-book draws on it; dropping it restores the terminal, on every way
/// out (Ctrl-C, an error, a panic).
#[derive(Debug)]
pub struct Live(());

impl Live {
    fn enter() -> io::Result<Self> {
        let mut out = io::stdout().lock();
        out.write_all(ENTER.as_bytes())?;
        out.flush()?;
        Ok(Live(()))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut out = io::stdout().lock();
        // Nothing to do if the terminal is gone.
        let _ = out.write_all(LEAVE.as_bytes()).and_then(|()| out.flush());
    }
}
