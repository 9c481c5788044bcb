//! The wait queue under the latch.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{LIMIT, eventually, setup, within};
use coordinator::{AsyncWait, WaitList, WaitOutcome};

/// A waker that counts its wake-ups.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A counting waker and the count it bumps.
fn counting_waker() -> (Waker, Arc<Counting>) {
    let count = Arc::new(Counting(AtomicUsize::new(0)));
    (Waker::from(Arc::clone(&count)), count)
}

impl Counting {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// One poll of an async wait on `list` whose condition never holds.
fn poll(list: &WaitList, wait: &mut AsyncWait, waker: &Waker) -> Poll<WaitOutcome> {
    list.poll_wait(wait, &mut Context::from_waker(waker), || false)
}

#[test]
fn ready_condition_returns_without_parking() {
    let list = WaitList::new();
    assert_eq!(list.wait(None, || true), WaitOutcome::Ready);
    assert!(list.is_empty());
}

#[test]
fn passed_deadline_times_out_without_parking() {
    let list = WaitList::new();
    let outcome = list.wait(Some(Instant::now()), || false);
    assert_eq!(outcome, WaitOutcome::TimedOut);
    assert!(list.is_empty());
}

#[test]
fn notify_one_wakes_the_longest_waiting_first() {
    setup();
    let list = Arc::new(WaitList::new());
    let (woke, order) = mpsc::channel();
    let mut handles = Vec::new();
    for n in 0..3 {
        let (waiters, woke) = (Arc::clone(&list), woke.clone());
        // Each waiter registers before the next starts, so arrival order is 0, 1, 2.
        handles.push(may::go!(move || {
            assert_eq!(waiters.wait(None, || false), WaitOutcome::Notified);
            woke.send(n).unwrap();
        }));
        eventually(LIMIT, "the waiter parks", || list.len() == n + 1);
    }
    for expected in 0..3 {
        assert!(list.notify_one());
        assert_eq!(order.recv_timeout(LIMIT).unwrap(), expected);
    }
    assert!(!list.notify_one(), "nobody is left to wake");
    within(LIMIT, move || {
        handles.into_iter().for_each(|h| h.join().unwrap())
    });
}

#[test]
fn notify_one_skips_a_waiter_that_timed_out() {
    let list = Arc::new(WaitList::new());
    let timed = {
        let list = Arc::clone(&list);
        std::thread::spawn(move || {
            list.wait(Some(Instant::now() + Duration::from_millis(1)), || false)
        })
    };
    assert_eq!(
        within(LIMIT, move || timed.join().unwrap()),
        WaitOutcome::TimedOut
    );
    let patient = {
        let list = Arc::clone(&list);
        std::thread::spawn(move || list.wait(None, || false))
    };
    eventually(LIMIT, "the patient waiter parks", || list.len() == 1);
    assert!(list.notify_one());
    assert_eq!(
        within(LIMIT, move || patient.join().unwrap()),
        WaitOutcome::Notified
    );
}

#[test]
fn notify_all_counts_the_waiters_it_woke() {
    let list = Arc::new(WaitList::new());
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let list = Arc::clone(&list);
            std::thread::spawn(move || list.wait(None, || false))
        })
        .collect();
    eventually(LIMIT, "all four park", || list.len() == 4);
    assert_eq!(list.notify_all(), 4);
    for waiter in waiters {
        assert_eq!(
            within(LIMIT, move || waiter.join().unwrap()),
            WaitOutcome::Notified
        );
    }
    assert!(list.is_empty());
}

#[test]
fn repoll_with_another_waker_is_woken_through_the_new_waker() {
    let list = WaitList::new();
    let mut wait = AsyncWait::default();
    let (first, first_wakes) = counting_waker();
    let (second, second_wakes) = counting_waker();
    assert!(poll(&list, &mut wait, &first).is_pending());
    assert!(poll(&list, &mut wait, &second).is_pending());
    assert!(list.notify_one());
    assert_eq!(
        second_wakes.wakes(),
        1,
        "the waker of the latest poll is woken"
    );
    assert_eq!(first_wakes.wakes(), 0, "a replaced waker is not");
    assert_eq!(
        poll(&list, &mut wait, &second),
        Poll::Ready(WaitOutcome::Notified)
    );
    assert!(list.is_empty());
}

#[test]
fn notify_all_wakes_the_waker_of_the_latest_poll() {
    let list = WaitList::new();
    let mut wait = AsyncWait::default();
    let (first, first_wakes) = counting_waker();
    let (second, second_wakes) = counting_waker();
    assert!(poll(&list, &mut wait, &first).is_pending());
    assert!(poll(&list, &mut wait, &second).is_pending());
    assert_eq!(list.notify_all(), 1);
    assert_eq!((first_wakes.wakes(), second_wakes.wakes()), (0, 1));
    assert_eq!(
        poll(&list, &mut wait, &first),
        Poll::Ready(WaitOutcome::Notified)
    );
}

#[test]
fn repoll_after_a_notification_returns_notified_without_a_wake() {
    let list = WaitList::new();
    let mut wait = AsyncWait::default();
    let (first, first_wakes) = counting_waker();
    let (second, second_wakes) = counting_waker();
    assert!(poll(&list, &mut wait, &first).is_pending());
    assert!(list.notify_one());
    assert_eq!(
        poll(&list, &mut wait, &second),
        Poll::Ready(WaitOutcome::Notified)
    );
    assert_eq!((first_wakes.wakes(), second_wakes.wakes()), (1, 0));
}

#[test]
fn cancel_of_a_notified_unconsumed_wait_passes_the_notification_on() {
    let list = WaitList::new();
    let (mut first, mut second) = (AsyncWait::default(), AsyncWait::default());
    let (first_waker, _) = counting_waker();
    let (second_waker, second_wakes) = counting_waker();
    assert!(poll(&list, &mut first, &first_waker).is_pending());
    assert!(poll(&list, &mut second, &second_waker).is_pending());
    assert!(list.notify_one()); // to the first waiter
    list.cancel(&mut first);
    assert_eq!(second_wakes.wakes(), 1);
    assert_eq!(
        poll(&list, &mut second, &second_waker),
        Poll::Ready(WaitOutcome::Notified)
    );
}

#[test]
fn ready_repoll_of_a_notified_wait_consumes_the_notification() {
    let list = WaitList::new();
    let (mut first, mut second) = (AsyncWait::default(), AsyncWait::default());
    let (waker, _) = counting_waker();
    let (second_waker, second_wakes) = counting_waker();
    assert!(poll(&list, &mut first, &waker).is_pending());
    assert!(poll(&list, &mut second, &second_waker).is_pending());
    assert!(list.notify_one());
    let ready = list.poll_wait(&mut first, &mut Context::from_waker(&waker), || true);
    assert_eq!(ready, Poll::Ready(WaitOutcome::Ready));
    assert_eq!(second_wakes.wakes(), 0, "the first waiter consumed it");
    assert_eq!(list.len(), 1);
}

/// One round for a [`notifier`]: the list to notify, the flag it raises once it is about to,
/// and how long it spins between the two.
struct Job {
    list: Arc<WaitList>,
    armed: Arc<AtomicBool>,
    spins: usize,
}

impl Job {
    /// Hands the round to the notifier and returns once it is about to notify, so the caller's
    /// next steps race the notification, `spins` spin-loop hints later.
    fn start(list: &Arc<WaitList>, spins: usize, work: &mpsc::Sender<Job>) {
        let armed = Arc::new(AtomicBool::new(false));
        let job = Job {
            list: Arc::clone(list),
            armed: Arc::clone(&armed),
            spins,
        };
        work.send(job).unwrap();
        while !armed.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    }
}

/// A thread that, for each [`Job`], raises its flag, spins a while and runs `notify`, then
/// reports what `notify` returned; the test drives it round by round.
fn notifier<T: Send + 'static>(
    notify: impl Fn(&WaitList) -> T + Send + 'static,
) -> (mpsc::Sender<Job>, mpsc::Receiver<T>) {
    let (work, jobs) = mpsc::channel::<Job>();
    let (report, reports) = mpsc::channel();
    std::thread::spawn(move || {
        // Ends when the test drops its sender.
        for job in jobs {
            job.armed.store(true, Ordering::SeqCst);
            for _ in 0..job.spins {
                std::hint::spin_loop();
            }
            if report.send(notify(&job.list)).is_err() {
                return;
            }
        }
    });
    (work, reports)
}

#[test]
fn notify_racing_repolls_with_changing_wakers_always_wakes_the_latest_waker() {
    const ROUNDS: usize = 5_000;
    within(LIMIT, || {
        let done = Arc::new(AtomicBool::new(false));
        let notified = Arc::clone(&done);
        let (work, reports) = notifier(move |list| {
            let woke = list.notify_one();
            notified.store(true, Ordering::SeqCst);
            woke
        });
        for round in 0..ROUNDS {
            done.store(false, Ordering::SeqCst);
            let list = Arc::new(WaitList::new());
            let mut wait = AsyncWait::default();
            let (waker, _) = counting_waker();
            assert!(poll(&list, &mut wait, &waker).is_pending());
            Job::start(&list, round % 32, &work);
            // Re-poll with a fresh waker each time until the notification shows.
            loop {
                let (waker, wakes) = counting_waker();
                match poll(&list, &mut wait, &waker) {
                    Poll::Ready(outcome) => {
                        assert_eq!(outcome, WaitOutcome::Notified);
                        break;
                    }
                    // The notifier is done after this poll, which stored the last waker:
                    // the notifier must have woken that one.
                    Poll::Pending if done.load(Ordering::SeqCst) => {
                        assert_eq!(wakes.wakes(), 1, "the latest waker is woken");
                        assert_eq!(
                            poll(&list, &mut wait, &waker),
                            Poll::Ready(WaitOutcome::Notified)
                        );
                        break;
                    }
                    Poll::Pending => {}
                }
            }
            assert!(reports.recv().unwrap(), "notify_one found the waiter");
            assert!(list.is_empty());
        }
    });
}

#[test]
fn notify_all_racing_repolls_with_changing_wakers_wakes_every_latest_waker() {
    const ROUNDS: usize = 2_000;
    const WAITERS: usize = 32;
    within(LIMIT, || {
        let done = Arc::new(AtomicBool::new(false));
        let notified = Arc::clone(&done);
        let (work, reports) = notifier(move |list| {
            let woken = list.notify_all();
            notified.store(true, Ordering::SeqCst);
            woken
        });
        for round in 0..ROUNDS {
            done.store(false, Ordering::SeqCst);
            let list = Arc::new(WaitList::new());
            let mut pending: Vec<(AsyncWait, Waker, Arc<Counting>)> = (0..WAITERS)
                .map(|_| {
                    let mut wait = AsyncWait::default();
                    let (waker, wakes) = counting_waker();
                    assert!(poll(&list, &mut wait, &waker).is_pending());
                    (wait, waker, wakes)
                })
                .collect();
            Job::start(&list, round % 32, &work);
            // Sweep the waits still pending, each with a fresh waker, until the notifier is done.
            loop {
                pending.retain_mut(|(wait, waker, wakes)| {
                    (*waker, *wakes) = counting_waker();
                    match poll(&list, wait, waker) {
                        Poll::Ready(outcome) => {
                            assert_eq!(outcome, WaitOutcome::Notified);
                            false
                        }
                        Poll::Pending => true,
                    }
                });
                if done.load(Ordering::SeqCst) {
                    break;
                }
            }
            // Every wait still pending was last polled before the notifier finished: it must
            // have been woken through the waker of that poll.
            for (wait, waker, wakes) in &mut pending {
                assert_eq!(wakes.wakes(), 1, "the latest waker is woken");
                assert_eq!(poll(&list, wait, waker), Poll::Ready(WaitOutcome::Notified));
            }
            assert_eq!(reports.recv().unwrap(), WAITERS);
            assert!(list.is_empty());
        }
    });
}

#[test]
fn cancel_racing_notify_one_never_loses_the_notification() {
    const ROUNDS: usize = 5_000;
    const SPREAD: usize = 400;
    within(LIMIT, || {
        let (work, reports) = notifier(WaitList::notify_one);
        for round in 0..ROUNDS {
            let list = Arc::new(WaitList::new());
            let (mut leaving, mut staying) = (AsyncWait::default(), AsyncWait::default());
            let (leaving_waker, _) = counting_waker();
            let (staying_waker, staying_wakes) = counting_waker();
            assert!(poll(&list, &mut leaving, &leaving_waker).is_pending());
            assert!(poll(&list, &mut staying, &staying_waker).is_pending());
            Job::start(&list, round % SPREAD, &work);
            list.cancel(&mut leaving);
            assert!(reports.recv().unwrap(), "a waiter was there to wake");
            // Whether the notification reached the leaving waiter first or not, it ends with
            // the one that stays.
            assert_eq!(staying_wakes.wakes(), 1);
            assert_eq!(
                poll(&list, &mut staying, &staying_waker),
                Poll::Ready(WaitOutcome::Notified)
            );
            assert!(list.is_empty());
        }
    });
}

#[test]
fn cancelled_coroutine_racing_notify_one_never_loses_the_notification() {
    setup();
    const ROUNDS: usize = 300;
    within(LIMIT, || {
        for _ in 0..ROUNDS {
            let list = Arc::new(WaitList::new());
            let leaving = {
                let list = Arc::clone(&list);
                may::go!(move || list.wait(None, || false))
            };
            eventually(LIMIT, "the first waiter parks", || list.len() == 1);
            let (woke, wakes) = mpsc::channel();
            let staying = {
                let list = Arc::clone(&list);
                std::thread::spawn(move || woke.send(list.wait(None, || false)).unwrap())
            };
            eventually(LIMIT, "the second waiter parks", || list.len() == 2);
            let notifier = {
                let list = Arc::clone(&list);
                std::thread::spawn(move || list.notify_one())
            };
            // SAFETY: the coroutine owns nothing that cancellation could leave half-updated.
            unsafe { leaving.coroutine().cancel() };
            let left = leaving.join();
            assert!(notifier.join().unwrap(), "a waiter was there to wake");
            // Either the leaving waiter took the notification before the cancellation struck,
            // or it unwound and the notification, before or after, went to the other waiter.
            if let Ok(outcome) = left {
                assert_eq!(outcome, WaitOutcome::Notified);
                assert!(list.notify_one());
            }
            assert_eq!(wakes.recv().unwrap(), WaitOutcome::Notified);
            staying.join().unwrap();
            assert!(list.is_empty());
        }
    });
}
