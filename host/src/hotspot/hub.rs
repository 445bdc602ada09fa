//! The push hub: one `watch` channel per network holding the latest information to push. The server
//! publishes into it after the database commit; every open event stream of that network wakes up.
//! A `watch` channel keeps only the newest value, so a slow client skips to the latest version
//! instead of falling behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::api::PushInfo;

/// Latest information per network, for live subscribers.
#[derive(Debug, Default)]
pub struct PushHub {
    channels: Mutex<HashMap<String, watch::Sender<Option<Arc<PushInfo>>>>>,
}

impl PushHub {
    /// Publishes a new version (ignored when an equal or newer one is already there).
    pub fn publish(&self, info: PushInfo) {
        let id = info.network_id.clone();
        let info = Arc::new(info);
        let mut map = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&id) {
            Some(tx) => {
                tx.send_if_modified(|cur| newer(cur, &info));
            }
            None => {
                map.insert(id, watch::channel(Some(info)).0);
            }
        }
    }

    /// Subscribes to a network's information; `stored` is what the database holds now (read by the
    /// caller before subscribing, so no version set in between is missed).
    pub fn subscribe(
        &self,
        network_id: &str,
        stored: Option<PushInfo>,
    ) -> watch::Receiver<Option<Arc<PushInfo>>> {
        let mut map = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = map.entry(network_id.to_owned()).or_insert_with(|| watch::channel(None).0);
        if let Some(s) = stored {
            let s = Arc::new(s);
            tx.send_if_modified(|cur| newer(cur, &s));
        }
        tx.subscribe()
    }

    /// Ends every open stream (at server shutdown: open event streams would otherwise hold it up).
    pub fn close_all(&self) {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

fn newer(cur: &mut Option<Arc<PushInfo>>, info: &Arc<PushInfo>) -> bool {
    if cur.as_ref().is_some_and(|c| c.version >= info.version) {
        return false;
    }
    *cur = Some(Arc::clone(info));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(v: u64) -> PushInfo {
        PushInfo { network_id: "n".into(), version: v, info: serde_json::json!(v), updated_at: 0 }
    }

    #[tokio::test]
    async fn subscribers_see_the_newest_version_only_moving_forward() {
        let hub = PushHub::default();
        let mut rx = hub.subscribe("n", Some(info(2)));
        assert_eq!(rx.borrow_and_update().as_ref().map(|i| i.version), Some(2));
        hub.publish(info(1));
        assert!(!rx.has_changed().unwrap(), "an older version is not published");
        hub.publish(info(3));
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().as_ref().map(|i| i.version), Some(3));
        hub.close_all();
        assert!(rx.changed().await.is_err(), "closing ends the streams");
    }
}
