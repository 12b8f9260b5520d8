//! WIP
#![allow(unused)]
use super::{Card, Detection};
use crate::record::Notification;
use serde_json::Value;
pub fn detect(_v: &Value) -> Option<Detection> {
    None
}
pub fn render(_d: &Detection, v: &Value) -> Card {
    super::generic::render_eventbridge(v)
}
pub fn detect_text(_t: &str) -> Option<Detection> {
    None
}
pub fn render_stack(n: &Notification) -> Card {
    super::generic::render_text(n, 4000)
}
