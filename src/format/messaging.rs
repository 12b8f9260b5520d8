//! WIP
#![allow(unused)]
use super::{Card, Detection};
use crate::record::Notification;
use serde_json::Value;
pub fn detect(_v: &Value) -> Option<Detection> {
    None
}
pub fn detect_text(_n: &Notification) -> Option<Detection> {
    None
}
pub fn render_backup(n: &Notification) -> Card {
    super::generic::render_text(n, 4000)
}
pub fn render_ses(v: &Value) -> Card {
    super::generic::render_eventbridge(v)
}
pub fn render_chatbot(v: &Value) -> Card {
    super::generic::render_eventbridge(v)
}
