//! Shared feeds: one producer task per key publishes the latest value on a `watch` channel, and
//! any number of followers read it (a slow follower skips to the newest value; nothing piles
//! up). A feed starts with its first follower and its task ends when the last follower leaves.
//! Used for a campaign's computed figures and for subscriptions that every subscriber with the
//! same access shares.

use futures_util::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

type Latest<V> = Option<V>;
type Senders<K, V> = HashMap<K, Arc<watch::Sender<Latest<V>>>>;

/// The running feeds by key. Clones share them.
pub struct Feeds<K, V>(Arc<Mutex<Senders<K, V>>>);

impl<K, V> Clone for Feeds<K, V> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<K, V> Default for Feeds<K, V> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K, V> Feeds<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Follows the feed of `key`; when there is none, spawns `produce` with the new feed. The
    /// producer publishes on it and returns when [`Feed::abandoned`] resolves (or when it has
    /// nothing more to say: then its followers' streams end after the last value).
    pub fn follow<F, P>(&self, key: K, produce: F) -> watch::Receiver<Latest<V>>
    where
        F: FnOnce(Feed<K, V>) -> P,
        P: Future<Output = ()> + Send + 'static,
    {
        let mut senders = self.lock();
        if let Some(sender) = senders.get(&key) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        let sender = Arc::new(sender);
        senders.insert(key.clone(), sender.clone());
        // Owned by its followers rather than the shutdown token: it ends when the last of them
        // leaves (their connections close, or their tokens expire).
        tokio::spawn(produce(Feed { feeds: self.clone(), key, sender }));
        receiver
    }

    /// How many feeds run.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Senders<K, V>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The producing end of one feed. Dropping it ends the feed: it is forgotten (a new follower
/// starts a new one) and its followers' streams end once they have read the last value.
pub struct Feed<K: Hash + Eq, V> {
    feeds: Feeds<K, V>,
    key: K,
    sender: Arc<watch::Sender<Latest<V>>>,
}

impl<K: Hash + Eq, V> Feed<K, V> {
    pub fn key(&self) -> &K {
        &self.key
    }

    pub fn publish(&self, value: V) {
        self.sender.send_replace(Some(value));
    }

    /// Resolves once nobody follows the feed and it has been forgotten, so that no follower
    /// can join it any more. Cancel-safe.
    pub async fn abandoned(&self) {
        loop {
            self.sender.closed().await;
            let mut senders = self.feeds.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Following happens under the same lock: nobody joins between the count and removal.
            if self.sender.receiver_count() == 0 {
                senders.remove(&self.key);
                return;
            }
        }
    }
}

impl<K: Hash + Eq, V> Drop for Feed<K, V> {
    fn drop(&mut self) {
        let mut senders = self.feeds.0.lock().unwrap_or_else(PoisonError::into_inner);
        if senders.get(&self.key).is_some_and(|sender| Arc::ptr_eq(sender, &self.sender)) {
            senders.remove(&self.key);
        }
    }
}

/// A follower's values: the latest at once (when there is one yet), then each newer one; ends
/// when the feed ends.
pub fn updates<V: Clone + Send + Sync + 'static>(
    mut latest: watch::Receiver<Latest<V>>,
) -> impl Stream<Item = V> + Send + 'static {
    latest.mark_changed();
    futures_util::stream::unfold(latest, |mut latest| async move {
        loop {
            // An error: the feed ended and its last value was read.
            latest.changed().await.ok()?;
            let value = latest.borrow_and_update().clone();
            if let Some(value) = value {
                return Some((value, latest));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::time::Duration;
    use tokio::sync::oneshot;

    /// A producer that publishes 1, then what `more` sends, until abandoned.
    async fn counter(feed: Feed<&'static str, u32>, started: Arc<Mutex<u32>>, more: oneshot::Receiver<u32>) {
        *started.lock().unwrap() += 1;
        feed.publish(1);
        tokio::select! {
            () = feed.abandoned() => {}
            Ok(value) = more => {
                feed.publish(value);
                feed.abandoned().await;
            }
        }
    }

    #[tokio::test]
    async fn followers_of_one_key_share_one_producer_and_see_the_latest_value() {
        let feeds = Feeds::default();
        let started = Arc::new(Mutex::new(0));
        let (tell, more) = oneshot::channel();
        let first = updates(feeds.follow("a", |feed| counter(feed, started.clone(), more)));
        let (_, unused) = oneshot::channel();
        let second = updates(feeds.follow("a", |feed| counter(feed, started.clone(), unused)));
        let (mut first, mut second) = (Box::pin(first), Box::pin(second));
        assert_eq!(first.next().await, Some(1));
        assert_eq!(second.next().await, Some(1));
        tell.send(7).unwrap();
        assert_eq!(first.next().await, Some(7));
        assert_eq!(second.next().await, Some(7));
        assert_eq!(*started.lock().unwrap(), 1, "one producer for both followers");
        assert_eq!(feeds.len(), 1);
    }

    #[tokio::test]
    async fn the_feed_is_forgotten_when_its_last_follower_leaves_and_restarts_for_a_new_one() {
        let feeds = Feeds::default();
        let started = Arc::new(Mutex::new(0));
        let (_tell, more) = oneshot::channel();
        let follower = feeds.follow("a", |feed| counter(feed, started.clone(), more));
        drop(follower);
        for _ in 0..100 {
            if feeds.len() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(feeds.len(), 0, "the abandoned feed is removed");
        let (_tell, more) = oneshot::channel();
        let mut again = Box::pin(updates(feeds.follow("a", |feed| counter(feed, started.clone(), more))));
        assert_eq!(again.next().await, Some(1));
        assert_eq!(*started.lock().unwrap(), 2);
    }

    #[tokio::test]
    async fn followers_read_the_last_value_of_a_feed_that_ends() {
        let feeds: Feeds<&str, u32> = Feeds::default();
        let mut follower = Box::pin(updates(feeds.follow("a", |feed| async move { feed.publish(9) })));
        assert_eq!(follower.next().await, Some(9));
        assert_eq!(follower.next().await, None, "the stream ends with the feed");
        assert_eq!(feeds.len(), 0);
    }
}
