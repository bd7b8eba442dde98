//! Log lines a device cannot forge (issue 17). Values from the wire (an action name, a
//! vendor's error text, a charger id in pending mode) reach the log, and a newline in one
//! would start a line of the attacker's choosing, in the journal too. tracing-subscriber
//! escapes terminal escape sequences in values but not line breaks, so the plain format
//! writes through `OneLine`: every event is one `write` of one formatted line, and inside
//! it a line break or other control character is written escaped (`\n`, `\r`, `\x07`).
//! The JSON format needs none of this: JSON strings escape them.

use std::io::{self, Write};

/// A writer that keeps each write on one line: only a final `\n` stays a line break.
#[derive(Debug)]
pub struct OneLine<W>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        let mut line = Vec::with_capacity(buf.len() + 8);
        for &b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                // Tab is harmless; ESC is how the terminal format colours its own output
                // (values' escape sequences are escaped by tracing-subscriber already).
                b'\t' | 0x1b => line.push(b),
                0x00..=0x1f | 0x7f => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                _ => line.push(b),
            }
        }
        line.extend_from_slice(end);
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Standard error through `OneLine`, for `tracing_subscriber::fmt().with_writer`.
pub fn stderr_one_line() -> OneLine<io::Stderr> {
    OneLine(io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(text: &[u8]) -> String {
        let mut out = OneLine(Vec::new());
        out.write_all(text).unwrap();
        String::from_utf8(out.0).unwrap()
    }

    #[test]
    fn a_line_break_inside_a_value_cannot_start_a_line() {
        assert_eq!(
            through(b" WARN unknown action \"Heartbeat\n INFO admin logged in\"\n"),
            " WARN unknown action \"Heartbeat\\n INFO admin logged in\"\n"
        );
        assert_eq!(through(b"a\r\nb\x07c\td"), "a\\r\\nb\\x07c\td");
        assert_eq!(through(b"plain line\n"), "plain line\n");
        assert_eq!(
            through(b"\x1b[32mINFO\x1b[0m ok\n"),
            "\x1b[32mINFO\x1b[0m ok\n"
        );
        assert_eq!(through(b""), "");
    }
}
