//! Agent state rows written behind the floor. The floor's board is the live truth of who is
//! AVAILABLE, RESERVED or ON_CALL; the agent rows keep it for reads and for the next start. A
//! change is queued in the board's order and written by one task, a batch per transaction (an
//! agent changed several times meanwhile is written once, with its last state), so that no
//! routing decision waits for the database. A failed batch is retried, newer states first; a
//! [`flush`](AgentStateRows::flush) returns once every change queued before it is written.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::{Store, TenantId};
use crate::acd::AgentState;

/// How long a failed batch waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// An agent's state as the board set it.
#[derive(Debug, Clone)]
pub struct StateRow {
    pub tenant: TenantId,
    pub agent: i64,
    pub state: AgentState,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
}

enum Queued {
    Row(StateRow),
    Flush(oneshot::Sender<()>),
}

/// The queue of agent state rows to write, and its writing task.
pub struct AgentStateRows {
    queue: mpsc::UnboundedSender<Queued>,
}

impl AgentStateRows {
    /// Starts the writing task (it ends when this handle is dropped and the queue is written).
    pub fn start(store: Store) -> AgentStateRows {
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(write_behind(store, queued));
        AgentStateRows { queue }
    }

    /// Queues a state to write. Memory is bounded by the agents: a queued agent's older state is
    /// replaced by its newer one before it is written.
    pub fn record(&self, row: StateRow) {
        // The task ends only after this handle is dropped, so the queue is open here.
        let _ = self.queue.send(Queued::Row(row));
    }

    /// Waits until every state queued before this call is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

async fn write_behind(store: Store, mut queued: mpsc::UnboundedReceiver<Queued>) {
    let mut pending: HashMap<(TenantId, i64), StateRow> = HashMap::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut open = true;
    loop {
        if pending.is_empty() && flushes.is_empty() {
            if !open {
                return;
            }
            match queued.recv().await {
                Some(item) => take(item, &mut pending, &mut flushes),
                None => return,
            }
        }
        loop {
            match queued.try_recv() {
                Ok(item) => take(item, &mut pending, &mut flushes),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let batch = std::mem::take(&mut pending);
        let done = std::mem::take(&mut flushes);
        let rows: Vec<&StateRow> = batch.values().collect();
        match store.agents().set_states(&rows).await {
            Ok(()) => done.into_iter().for_each(|flush| {
                let _ = flush.send(());
            }),
            Err(error) => {
                tracing::error!(%error, agents = rows.len(), "agent states not written; trying again");
                for (key, row) in batch {
                    pending.entry(key).or_insert(row);
                }
                flushes.splice(0..0, done);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

fn take(item: Queued, pending: &mut HashMap<(TenantId, i64), StateRow>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match item {
        Queued::Row(row) => {
            pending.insert((row.tenant.clone(), row.agent), row);
        }
        Queued::Flush(done) => flushes.push(done),
    }
}
