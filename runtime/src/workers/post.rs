//! What is sent into a worker pool: commands for its manager and pipe messages for its workers,
//! with the queues that hold them until they are taken.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use coordinator::WaitList;
use parking_lot::Mutex;

use super::error::WorkerError;

/// What the manager is asked to do.
pub(crate) enum Command {
    /// Recycle worker `id`, if it is still in that generation.
    Recycle { id: usize, generation: u64 },
    /// Recycle every worker, one after the other.
    Reload,
    /// Shut the pool down, waiting for in-flight work (`graceful`) or not.
    Shutdown { graceful: bool },
}

/// One worker's queue of pipe messages; it outlives the worker's generations.
pub(crate) struct Mailbox<M> {
    pub(crate) queue: Mutex<VecDeque<(Option<usize>, M)>>,
    pub(crate) posted: WaitList,
}

impl<M> Default for Mailbox<M> {
    fn default() -> Self {
        Mailbox {
            queue: Mutex::new(VecDeque::new()),
            posted: WaitList::new(),
        }
    }
}

/// The pool's post: the manager's command queue and the workers' mailboxes, and the setting
/// (`max_request`) by which a worker knows when to ask for its recycle. Workers reach the pool
/// only through it, so a worker needs nothing of the manager.
pub(crate) struct Post<M> {
    pub(crate) max_request: u64,
    pub(crate) mailboxes: Vec<Mailbox<M>>,
    commands: Mutex<VecDeque<Command>>,
    command_posted: WaitList,
    /// Set when the pool begins to shut down: from then on messages are refused.
    pub(crate) stopping: AtomicBool,
}

impl<M> Post<M> {
    /// A post for `worker_num` workers, with nothing in it.
    pub(crate) fn new(worker_num: usize, max_request: u64) -> Self {
        Post {
            max_request,
            mailboxes: (0..worker_num).map(|_| Mailbox::default()).collect(),
            commands: Mutex::new(VecDeque::new()),
            command_posted: WaitList::new(),
            stopping: AtomicBool::new(false),
        }
    }

    pub(crate) fn command(&self, command: Command) {
        self.commands.lock().push_back(command);
        self.command_posted.notify_one();
    }

    /// The oldest command; waits for one when there is none.
    pub(crate) fn next_command(&self) -> Command {
        loop {
            if let Some(command) = self.commands.lock().pop_front() {
                return command;
            }
            self.command_posted
                .wait(None, || !self.commands.lock().is_empty());
        }
    }

    pub(crate) fn deliver(
        &self,
        from: Option<usize>,
        to: usize,
        message: M,
    ) -> Result<(), WorkerError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(WorkerError::PoolStopped);
        }
        let mailbox = self
            .mailboxes
            .get(to)
            .ok_or(WorkerError::NoSuchWorker(to))?;
        mailbox.queue.lock().push_back((from, message));
        mailbox.posted.notify_one();
        Ok(())
    }
}
