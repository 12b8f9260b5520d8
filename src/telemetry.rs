//! Logging set-up in one place, and the buffered stdout the function logs to.
//!
//! Both modes follow Lambda's log controls the way `lambda_runtime`'s default
//! subscriber does (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO;
//! `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines, in the stock JSON shape but
//! formatted by [`json_lines`]), without ANSI colours, which CloudWatch would
//! show as escape codes.
//!
//! In Lambda, lines go to a buffer that is written to stdout when a WARN or
//! ERROR line arrives, when it holds 32 KiB, and at the end of every invocation
//! ([`flush`]): one `write` for many INFO lines instead of one each. Written by
//! hand because `tracing-appender`'s non-blocking writer hands every line to a
//! second thread, which costs more on Lambda's fraction of a vCPU than the
//! write it saves.

mod json_lines;

use std::io::{self, Write};
use std::sync::Mutex;

use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::tracing::subscriber::filter::LevelFilter;
use lambda_runtime::tracing::subscriber::fmt::MakeWriter;
use lambda_runtime::tracing::subscriber::fmt::format::JsonFields;
use lambda_runtime::tracing::{Level, Metadata};

/// Buffered bytes that trigger a write even without a WARN line.
const FLUSH_AT: usize = 32 * 1024;

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Sets up logging for the Lambda function: buffered stdout.
pub fn init_lambda() {
    init(BufferedStdout);
}

/// Sets up logging for the command line: unbuffered standard error, so that
/// standard output carries only results.
pub fn init_cli() {
    init(io::stderr);
}

fn init<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let builder = lambda_runtime::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(writer);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second initialisation (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .fmt_fields(JsonFields::new())
            .event_format(json_lines::JsonLines)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Writes a line (an EMF document) to stdout through the same buffer as the
/// logs, so the order is kept.
pub fn write_line(line: &str) {
    let mut buffer = lock();
    buffer.extend_from_slice(line.as_bytes());
    buffer.push(b'\n');
}

/// Writes everything buffered to stdout. Call at the end of each invocation.
pub fn flush() {
    drain_into(&mut lock(), &mut io::stdout().lock());
}

fn lock() -> std::sync::MutexGuard<'static, Vec<u8>> {
    BUFFER.lock().unwrap_or_else(|e| e.into_inner())
}

fn drain_into(buffer: &mut Vec<u8>, out: &mut impl Write) {
    if !buffer.is_empty() {
        // Nothing sensible is left to do when stdout itself fails.
        let _ = out.write_all(buffer).and_then(|()| out.flush());
        buffer.clear();
    }
}

/// The function's log writer: buffers INFO and below, flushes on WARN and ERROR.
struct BufferedStdout;

/// One log line on its way into the buffer.
struct LogLine {
    urgent: bool,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let mut buffer = lock();
        if self.urgent || buffer.len() >= FLUSH_AT {
            drain_into(&mut buffer, &mut io::stdout().lock());
        }
    }
}

impl<'a> MakeWriter<'a> for BufferedStdout {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LogLine {
        LogLine {
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_writes_everything_once() {
        let mut buffer = b"one\ntwo\n".to_vec();
        let mut out = Vec::new();
        drain_into(&mut buffer, &mut out);
        drain_into(&mut buffer, &mut out);
        assert_eq!(out, b"one\ntwo\n");
        assert!(buffer.is_empty());
    }
}
