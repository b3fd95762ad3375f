//! One run's stop: the first failure, or a signal, ends every thread and
//! task of the run, and the first cause is what the run returns.
//!
//! The stop is a crossbeam channel that never carries a message: its only
//! sender is dropped at the first failure, which disconnects the channel
//! and wakes at once every thread blocked in a `select!` over it (a reader
//! waiting for its next chunk). [`Stop::is_stopped`] asks the same channel
//! without blocking; that is a few loads on a bounded channel, cheap enough
//! for the row-by-row read, which sends a message per row anyway, so no
//! separate flag is kept.

use std::convert::Infallible;
use std::sync::Mutex;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::exit::Interrupted;

/// Shared by every thread and task of one run.
pub struct Stop {
    /// The stop channel's sender (`None` once stopped) and the first
    /// cause, changed together so that whoever wakes finds the cause.
    state: Mutex<State>,
    stopped: Receiver<Infallible>,
}

struct State {
    sender: Option<Sender<Infallible>>,
    first_error: Option<anyhow::Error>,
}

impl Default for Stop {
    fn default() -> Stop {
        // Nothing is ever sent; the capacity only picks crossbeam's
        // lock-free array flavour, whose `try_recv` takes no lock.
        let (sender, stopped) = crossbeam_channel::bounded(1);
        Stop {
            state: Mutex::new(State {
                sender: Some(sender),
                first_error: None,
            }),
            stopped,
        }
    }
}

impl Stop {
    /// Whether the run is stopping.
    pub fn is_stopped(&self) -> bool {
        matches!(self.stopped.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// A receiver that disconnects when the run stops: `recv` on it in a
    /// [`crossbeam_channel::select!`] fires then, and never before.
    pub fn stopped(&self) -> &Receiver<Infallible> {
        &self.stopped
    }

    /// Stops the run because of `err`, unless it is already stopping: only
    /// the first cause is kept.
    pub fn fail(&self, err: anyhow::Error) {
        let mut state = self.state.lock().expect("stop lock poisoned");
        if let Some(sender) = state.sender.take() {
            state.first_error = Some(err);
            drop(sender);
        }
    }

    /// Stops the run because a signal asked to.
    pub fn interrupt(&self) {
        self.fail(Interrupted.into());
    }

    /// The cause the run stopped for, once.
    pub fn take_error(&self) -> Option<anyhow::Error> {
        self.state
            .lock()
            .expect("stop lock poisoned")
            .first_error
            .take()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::anyhow;
    use crossbeam_channel::select;

    use super::*;

    #[test]
    fn a_stop_keeps_the_first_cause() {
        let stop = Stop::default();
        assert!(!stop.is_stopped());
        assert!(stop.take_error().is_none());
        stop.fail(anyhow!("first"));
        stop.interrupt();
        stop.fail(anyhow!("third"));
        assert!(stop.is_stopped());
        assert_eq!(stop.take_error().unwrap().to_string(), "first");
        assert!(stop.take_error().is_none());
        // Taken or not, the run stays stopped and later causes stay out.
        stop.fail(anyhow!("after"));
        assert!(stop.is_stopped());
        assert!(stop.take_error().is_none());
    }

    #[test]
    fn an_interrupt_is_the_cause() {
        let stop = Stop::default();
        stop.interrupt();
        assert!(stop.take_error().unwrap().is::<Interrupted>());
    }

    /// Threads blocked waiting for work (their task channels open and
    /// empty) all wake at the first failure.
    #[test]
    fn a_stop_wakes_every_blocked_select() {
        let stop = Arc::new(Stop::default());
        let (woken_tx, woken) = crossbeam_channel::bounded(4);
        let mut keep_open = Vec::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (task_tx, tasks) = crossbeam_channel::bounded::<u32>(1);
                keep_open.push(task_tx);
                let stop = Arc::clone(&stop);
                let woken_tx = woken_tx.clone();
                std::thread::spawn(move || {
                    let woke_by = select! {
                        recv(tasks) -> task => format!("task {task:?}"),
                        recv(stop.stopped()) -> _ => "stop".to_owned(),
                    };
                    woken_tx.send(woke_by).unwrap();
                })
            })
            .collect();
        assert!(woken.try_recv().is_err(), "nothing wakes before the stop");
        stop.fail(anyhow!("a writer failed"));
        for _ in 0..4 {
            // Generous: a thread that never wakes fails the test instead
            // of hanging it.
            let woke_by = woken.recv_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(woke_by, "stop");
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(stop.take_error().unwrap().to_string(), "a writer failed");
        drop(keep_open);
    }
}
