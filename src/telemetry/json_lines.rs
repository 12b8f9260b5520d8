//! JSON log lines in the shape of `tracing-subscriber`'s JSON format
//! (`{"level","fields":{..},"span":{..,"name"},"spans":[..]}`), for a quarter of
//! its cost.
//!
//! Written by hand because the stock formatter parses every span's stored
//! fields back into a `serde_json::Value` for every line, twice (`span` and
//! `spans`): with the Lambda runtime's span around each invocation, a line cost
//! about 31,000 instructions, a fifth of the function's work per record
//! (callgrind, `scripts/bench`); this one costs about 7,000. The stored fields,
//! already JSON, are copied into the line as they are; strings that need
//! escaping are escaped by `serde_json`.

use std::fmt;
use std::io;

use lambda_runtime::tracing::field::{Field, Visit};
use lambda_runtime::tracing::subscriber::fmt::format::{JsonFields, Writer};
use lambda_runtime::tracing::subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use lambda_runtime::tracing::subscriber::registry::{LookupSpan, SpanRef};
use lambda_runtime::tracing::{Event, Subscriber};
use serde::Serialize;

/// Formats each event as one JSON object per line. Use it with
/// [`JsonFields`] as the field formatter, so that span fields are stored as
/// JSON objects.
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str("{\"level\":\"")?;
        writer.write_str(event.metadata().level().as_str())?;
        writer.write_str("\",\"fields\":{")?;
        let mut fields = Fields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('}')?;
        let current = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = current {
            writer.write_str(",\"span\":")?;
            write_span(&mut writer, &span)?;
            writer.write_str(",\"spans\":[")?;
            for (i, s) in span.scope().from_root().enumerate() {
                if i > 0 {
                    writer.write_char(',')?;
                }
                write_span(&mut writer, &s)?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// The span's stored JSON fields with its `name` added: `{"a":1,"name":"x"}`.
fn write_span<'a, S: LookupSpan<'a>>(out: &mut Writer<'_>, span: &SpanRef<'a, S>) -> fmt::Result {
    let extensions = span.extensions();
    let stored = extensions
        .get::<FormattedFields<JsonFields>>()
        .map(|f| f.fields.as_str())
        .unwrap_or("");
    // Stored fields are a JSON object, or empty when the span has none.
    match stored.trim().strip_suffix('}') {
        Some(open) if open.trim() != "{" => {
            out.write_str(open)?;
            out.write_char(',')?;
        }
        _ => out.write_char('{')?,
    }
    out.write_str("\"name\":")?;
    string(out, span.metadata().name())?;
    out.write_char('}')
}

/// Writes an event's fields as `"name":value` pairs.
struct Fields<'w, 'o> {
    out: &'o mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    /// Writes `"name":` and then the value, unless an earlier write failed.
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.out.write_char(',')?;
            }
            string(self.out, field.name())?;
            self.out.write_char(':')?;
            value(self.out)
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, |out| json(out, &value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |out| json(out, &value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |out| json(out, &value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |out| json(out, &value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |out| string(out, value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field, |out| json(out, &format_args!("{value}")));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, |out| json(out, &format_args!("{value:?}")));
    }
}

/// Writes `value` as JSON (strings escaped by `serde_json`).
fn json<T: Serialize + ?Sized>(out: &mut Writer<'_>, value: &T) -> fmt::Result {
    serde_json::to_writer(Adaptor(out), value).map_err(|_| fmt::Error)
}

/// Writes a JSON string. Most (ids, outcomes, reasons, field names) need no
/// escaping and are written as they are; the rest go through `serde_json`.
fn string(out: &mut Writer<'_>, text: &str) -> fmt::Result {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return json(out, text);
    }
    out.write_char('"')?;
    out.write_str(text)?;
    out.write_char('"')
}

/// `io::Write` over a `fmt::Write`, for `serde_json`. It writes UTF-8 text cut
/// at character boundaries, so each chunk converts.
struct Adaptor<'a, 'w>(&'a mut Writer<'w>);

impl io::Write for Adaptor<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
        self.0.write_str(text).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use lambda_runtime::tracing::subscriber;
    use lambda_runtime::tracing::subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// What the function logs, including awkward values.
    fn emit() {
        let span = ::tracing::info_span!(
            "Lambda runtime invoke",
            requestId = "req-1",
            xrayTraceId = "Root=1-abc"
        );
        let _entered = span.enter();
        ::tracing::info!(
            message_id = "m-1",
            outcome = "posted",
            attempts = 2u32,
            latency_ms = Some(112u64),
            ratio = 0.5,
            retryable = false,
            "record posted"
        );
        let inner = ::tracing::info_span!("inner");
        let _inner = inner.enter();
        ::tracing::warn!(
            reason = "quoted \"and\\ slashed\"",
            detail = %"HTTP 404: \"channel_not_found\"\n<tab>\t\u{1}é",
            status = -4i64,
            error = &std::io::Error::other("boom") as &(dyn std::error::Error + 'static),
            "record not posted"
        );
        drop(_inner);
        drop(_entered);
        ::tracing::error!(unsent = 3u64, "outside any span");
    }

    fn lines(buffer: &Buffer) -> Vec<serde_json::Value> {
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn lines_match_the_stock_json_format() {
        let stock = Buffer::default();
        let stock_subscriber = subscriber::fmt()
            .json()
            .without_time()
            .with_target(false)
            .with_writer(stock.clone())
            .finish();
        ::tracing::subscriber::with_default(stock_subscriber, emit);

        let ours = Buffer::default();
        let our_subscriber = subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(ours.clone())
            .finish();
        ::tracing::subscriber::with_default(our_subscriber, emit);

        let (stock, ours) = (lines(&stock), lines(&ours));
        assert_eq!(stock.len(), 3);
        assert_eq!(ours, stock);
        assert_eq!(ours[0]["span"]["requestId"], "req-1");
        assert_eq!(ours[1]["spans"][1]["name"], "inner");
    }
}
