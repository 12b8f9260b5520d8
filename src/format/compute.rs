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
pub fn render_rds(v: &Value) -> Card {
    super::generic::render_eventbridge(v)
}
