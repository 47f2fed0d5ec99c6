//! Newline-delimited JSON-RPC over a byte stream (the MCP stdio transport), with a size limit.

use crate::McpError;
use crate::jsonrpc::{self, MAX_MESSAGE_BYTES};
use crate::server::McpServer;
use serde_json::Value;
use std::io::{BufRead, Write};

/// One line read from a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line (without its newline).
    Message(Vec<u8>),
    /// A line longer than the limit; it was read to its end and dropped.
    Oversized(usize),
    /// The stream ended.
    Eof,
}

/// Reads one line of at most `max` bytes. A longer line is consumed to its end and reported,
/// so the stream stays in step and the next message is read whole.
pub fn read_line(reader: &mut impl BufRead, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut seen = 0usize;
    let mut oversized = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if oversized {
                Line::Oversized(seen)
            } else if line.is_empty() {
                Line::Eof
            } else {
                Line::Message(line)
            });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        seen += chunk.len();
        if seen > max {
            oversized = true;
        } else {
            line.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            if oversized {
                return Ok(Line::Oversized(seen));
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Message(line));
        }
    }
}

/// Writes one message as a line and flushes it.
pub fn write_message(writer: &mut impl Write, message: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    text.push(b'\n');
    writer.write_all(&text)?;
    writer.flush()
}

/// The answer to an oversized message.
pub fn oversized_error(len: usize) -> Value {
    jsonrpc::error(
        Value::Null,
        jsonrpc::INVALID_REQUEST,
        &format!("message of {len} bytes is larger than the limit of {MAX_MESSAGE_BYTES} bytes"),
        None,
    )
}

/// Serves MCP over a reader and a writer until the reader ends.
pub fn serve(
    server: &mut McpServer,
    reader: &mut impl BufRead,
    writer: &mut impl Write,
) -> Result<(), McpError> {
    loop {
        let answer =
            match read_line(reader, MAX_MESSAGE_BYTES).map_err(McpError::io("reading stdin"))? {
                Line::Eof => return Ok(()),
                Line::Oversized(n) => Some(oversized_error(n)),
                Line::Message(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
                Line::Message(bytes) => server.handle_bytes(&bytes),
            };
        if let Some(a) = answer {
            match write_message(writer, &a) {
                Ok(()) => {}
                // The client went away: nothing left to answer.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(McpError::io("writing stdout")(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_limits() {
        let mut r = std::io::Cursor::new(b"abc\r\n0123456789\nxy".to_vec());
        assert_eq!(
            read_line(&mut r, 5).ok(),
            Some(Line::Message(b"abc".to_vec()))
        );
        assert_eq!(read_line(&mut r, 5).ok(), Some(Line::Oversized(10)));
        assert_eq!(
            read_line(&mut r, 5).ok(),
            Some(Line::Message(b"xy".to_vec()))
        );
        assert_eq!(read_line(&mut r, 5).ok(), Some(Line::Eof));
    }
}
