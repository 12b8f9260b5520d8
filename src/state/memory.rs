//! The state port in memory, with the DynamoDB adapter's semantics, for
//! tests on tokio's paused clock (which must not wait on real I/O): claims,
//! stale takeovers, versioned threads, and faults on demand (down, slow).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{
    Claim, ClaimToken, RETRYABLE, State, StateError, StateSettings, claim_pk, later, thread_pk,
};
use crate::lifecycle::{Thread, epoch_seconds};

#[derive(Debug, Clone)]
enum Item {
    Claim {
        posted: bool,
        token: String,
        claimed_at: u64,
        expires_at: u64,
    },
    Thread {
        thread: Thread,
        expires_at: u64,
    },
}

/// State kept in a map; one per test.
#[derive(Debug)]
pub struct MemoryState {
    settings: StateSettings,
    items: Mutex<HashMap<String, Item>>,
    down: AtomicBool,
    delay: Mutex<Duration>,
    calls: AtomicU32,
}

impl MemoryState {
    /// Empty state with `settings` (only the durations matter).
    pub fn new(settings: StateSettings) -> Self {
        Self {
            settings,
            items: Mutex::new(HashMap::new()),
            down: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
            calls: AtomicU32::new(0),
        }
    }

    /// While `down`, every call fails with a retryable
    /// [`StateError::Service`], as when DynamoDB is unreachable.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every call first waits `delay` (on tokio's clock), as a slow table
    /// would; a call whose deadline comes first fails with
    /// [`StateError::Deadline`].
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// Calls made so far (failed ones included).
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Whether the pair's claim is marked posted.
    pub fn is_posted(&self, message_id: &str, destination: &str) -> bool {
        matches!(
            self.items
                .lock()
                .unwrap()
                .get(&claim_pk(destination, message_id)),
            Some(Item::Claim { posted: true, .. })
        )
    }

    async fn enter(&self, operation: &'static str, deadline: Instant) -> Result<(), StateError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        if Instant::now() >= deadline
            || tokio::time::timeout_at(deadline, tokio::time::sleep(delay))
                .await
                .is_err()
        {
            return Err(StateError::Deadline { operation });
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StateError::Service {
                operation,
                kind: RETRYABLE,
                detail: "the in-memory state table is down (set by the test)".into(),
            });
        }
        Ok(())
    }
}

impl State for MemoryState {
    async fn claim(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<Claim, StateError> {
        self.enter("PutItem", deadline).await?;
        let now_s = epoch_seconds(now);
        let stale_after = self.settings.stale_after.as_secs();
        let mut items = self.items.lock().unwrap();
        let pk = claim_pk(destination, message_id);
        match items.get(&pk) {
            Some(Item::Claim {
                posted: true,
                expires_at,
                ..
            }) if *expires_at > now_s => {
                return Ok(Claim::Posted);
            }
            Some(Item::Claim {
                claimed_at,
                expires_at,
                ..
            }) if *expires_at > now_s && claimed_at.saturating_add(stale_after) > now_s => {
                return Ok(Claim::Busy {
                    stale_at: claimed_at.saturating_add(stale_after),
                });
            }
            _ => {}
        }
        let token = ClaimToken::new();
        items.insert(
            pk,
            Item::Claim {
                posted: false,
                token: token.0.clone(),
                claimed_at: now_s,
                expires_at: later(now, self.settings.claim_ttl),
            },
        );
        Ok(Claim::Won(token))
    }

    async fn mark_posted(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<(), StateError> {
        self.enter("UpdateItem", deadline).await?;
        let mut items = self.items.lock().unwrap();
        let pk = claim_pk(destination, message_id);
        let (token, claimed_at) = match items.get(&pk) {
            Some(Item::Claim {
                token, claimed_at, ..
            }) => (token.clone(), *claimed_at),
            _ => (String::new(), epoch_seconds(now)),
        };
        items.insert(
            pk,
            Item::Claim {
                posted: true,
                token,
                claimed_at,
                expires_at: later(now, self.settings.claim_ttl),
            },
        );
        Ok(())
    }

    async fn release(
        &self,
        message_id: &str,
        destination: &str,
        token: &ClaimToken,
        deadline: Instant,
    ) -> Result<(), StateError> {
        self.enter("DeleteItem", deadline).await?;
        let mut items = self.items.lock().unwrap();
        let pk = claim_pk(destination, message_id);
        if matches!(items.get(&pk), Some(Item::Claim { posted: false, token: t, .. }) if *t == token.0)
        {
            items.remove(&pk);
        }
        Ok(())
    }

    async fn thread(
        &self,
        destination: &str,
        thread_key: &str,
        deadline: Instant,
    ) -> Result<Option<Thread>, StateError> {
        self.enter("GetItem", deadline).await?;
        let items = self.items.lock().unwrap();
        Ok(match items.get(&thread_pk(destination, thread_key)) {
            Some(Item::Thread { thread, .. }) => Some(thread.clone()),
            _ => None,
        })
    }

    async fn save_thread(
        &self,
        destination: &str,
        thread_key: &str,
        thread: &Thread,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<u64, StateError> {
        self.enter("PutItem", deadline).await?;
        let mut items = self.items.lock().unwrap();
        let pk = thread_pk(destination, thread_key);
        let fits = match items.get(&pk) {
            None => true,
            Some(Item::Thread {
                thread: stored,
                expires_at,
            }) => {
                stored.version == thread.version
                    || (thread.version == 0 && *expires_at <= epoch_seconds(now))
            }
            Some(Item::Claim { .. }) => false,
        };
        if !fits {
            return Err(StateError::Conflict { pk });
        }
        let version = thread.version + 1;
        items.insert(
            pk,
            Item::Thread {
                thread: Thread {
                    version,
                    ..thread.clone()
                },
                expires_at: thread.expires_at(self.settings.thread_ttl),
            },
        );
        Ok(version)
    }
}
