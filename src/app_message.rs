//! What an app job posts, read from the composition (pure): the message as
//! a JSON object for the Web API, and for a message of a record's own, that
//! record's notice, which gives the thread event ([`Event::of`]) and the
//! original's updated content ([`crate::render::original`]). A digest has no
//! thread: it is posted as a message of its own.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::compose::Composition;
use crate::delivery::Job;
use crate::group::Placement;
use crate::lifecycle::{Event, Summary};
use crate::notice::Notice;
use crate::record::Notification;
use crate::render::Overrides;

/// Per job of `composition`, the record it carries as its own message
/// (`None` for a digest).
pub fn leads(composition: &Composition) -> Vec<Option<usize>> {
    let mut leads = vec![None; composition.jobs.len()];
    for (r, branches) in composition.branches.iter().enumerate() {
        for b in branches {
            if b.role == Placement::Own {
                leads[b.job] = Some(r);
            }
        }
    }
    leads
}

/// One app job, ready to post.
pub struct Prepared<'n> {
    /// The rendered message (`text`, `blocks`, `attachments`...).
    pub message: Map<String, Value>,
    notice: Option<Notice<'n>>,
    received: SystemTime,
}

impl<'n> Prepared<'n> {
    /// The job's message, and the notice of `lead` (the notification it
    /// carries as its own message, if any) read with `max_message_chars`.
    pub fn new(job: &Job, lead: Option<&'n Notification>, max_message_chars: usize) -> Self {
        let mut message = match serde_json::from_slice::<Value>(&job.body) {
            Ok(Value::Object(map)) => map,
            // Our renderers always write an object; keep the text regardless.
            _ => {
                let mut map = Map::new();
                let text = String::from_utf8_lossy(&job.body).into_owned();
                map.insert("text".into(), Value::String(text));
                map
            }
        };
        // The app posts as itself in the entry's channel: the webhook-era
        // overrides would need `chat:write.customize` and cannot move it.
        for key in ["channel", "username", "icon_emoji"] {
            message.remove(key);
        }
        let received = lead
            .and_then(|n| crate::route::published_at(n.timestamp.as_deref()))
            .map_or_else(SystemTime::now, SystemTime::from);
        Self {
            message,
            // Read again here (planning read it once and kept only the
            // rendered body): a notice borrows its notification, and only app
            // jobs, at most about one post per second each, need it back.
            notice: lead.map(|n| crate::kinds::read(n, max_message_chars)),
            received,
        }
    }

    /// The thread event: `None` for a digest, or a notice without a thread
    /// key or status.
    pub fn event(&self) -> Option<Event<'_>> {
        Event::of(self.notice.as_ref()?, self.received)
    }

    /// The original's content for `summary`, in the layout of `overrides`.
    pub fn original(&self, summary: &Summary, overrides: &Overrides) -> Map<String, Value> {
        let Some(notice) = &self.notice else {
            return self.message.clone();
        };
        let payload =
            crate::render::original::original(notice, summary, overrides, SystemTime::now());
        match serde_json::to_value(&payload) {
            Ok(Value::Object(map)) => map,
            _ => self.message.clone(),
        }
    }
}
