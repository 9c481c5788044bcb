//! The hub of topics: delivery to every subscriber of a topic, bounded queues, and a slow
//! subscriber that neither blocks the publisher nor the others.

use std::time::Duration;

use hyperf_http::server::{Hub, Overflow, RecvError};
use test_support::within;

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_message_reaches_every_subscriber_of_its_topic_and_no_other() {
    let hub = Hub::new(8, Overflow::DropOldest);
    let (a, b, other) = (
        hub.subscribe("room"),
        hub.subscribe("room"),
        hub.subscribe("else"),
    );
    assert_eq!(hub.publish("room", 1), 2);
    assert_eq!(
        (a.try_recv(), b.try_recv(), other.try_recv()),
        (Some(1), Some(1), None)
    );
}

#[test]
fn a_slow_subscriber_drops_its_oldest_messages_without_slowing_the_publisher_or_others() {
    let hub = Hub::new(4, Overflow::DropOldest);
    let slow = hub.subscribe("room");
    let fast = hub.subscribe("room");
    for n in 0..100 {
        assert_eq!(hub.publish("room", n), 2);
        assert_eq!(fast.try_recv(), Some(n));
    }
    assert_eq!(slow.dropped(), 96);
    let kept: Vec<i32> = std::iter::from_fn(|| slow.try_recv()).collect();
    assert_eq!(kept, [96, 97, 98, 99]);
}

#[test]
fn under_the_close_policy_a_full_subscriber_is_closed_after_its_queued_messages() {
    let hub = Hub::new(2, Overflow::Close);
    let slow = hub.subscribe("room");
    let fast = hub.subscribe("room");
    for n in 0..3 {
        hub.publish("room", n);
        assert_eq!(fast.try_recv(), Some(n));
    }
    assert!(slow.is_closed());
    assert_eq!(hub.publish("room", 3), 1);
    assert_eq!(
        (slow.recv(), slow.recv(), slow.recv()),
        (Some(0), Some(1), None)
    );
    assert_eq!(fast.try_recv(), Some(3));
}

#[test]
fn a_publisher_never_waits_for_a_subscriber_that_never_reads() {
    let hub = Hub::new(1, Overflow::DropOldest);
    let _never_reads = hub.subscribe("room");
    let publisher = hub.clone();
    let published = within(TIMEOUT, move || {
        (0..10_000)
            .map(|n| publisher.publish("room", n))
            .sum::<usize>()
    });
    assert_eq!(published, 10_000);
}

#[test]
fn coroutines_on_any_worker_publish_to_a_waiting_subscriber() {
    let hub = Hub::new(1000, Overflow::DropOldest);
    let subscription = hub.subscribe("room");
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let hub = hub.clone();
            may::go!(move || {
                for n in 0..100 {
                    hub.publish("room", p * 100 + n);
                }
            })
        })
        .collect();
    let mut received = within(TIMEOUT, move || {
        let received: Vec<i32> = (0..400).map(|_| subscription.recv().unwrap()).collect();
        received
    });
    for publisher in publishers {
        publisher.join().unwrap();
    }
    received.sort_unstable();
    assert_eq!(received, (0..400).collect::<Vec<_>>());
}

#[test]
fn a_dropped_subscription_leaves_its_topic() {
    let hub = Hub::new(4, Overflow::DropOldest);
    let subscription = hub.subscribe("room");
    assert_eq!(hub.subscribers("room"), 1);
    drop(subscription);
    assert_eq!(hub.subscribers("room"), 0);
    assert_eq!(hub.publish("room", 1), 0);
}

#[test]
fn recv_timeout_returns_timeout_when_nothing_is_published() {
    let hub: Hub<u8> = Hub::new(4, Overflow::DropOldest);
    let subscription = hub.subscribe("room");
    assert_eq!(
        subscription.recv_timeout(Duration::from_millis(20)),
        Err(RecvError::Timeout)
    );
}

#[test]
fn a_closed_subscription_gives_what_is_queued_then_none_and_takes_nothing_more() {
    let hub = Hub::new(8, Overflow::DropOldest);
    let room = hub.subscribe("room");
    hub.publish("room", 1);
    hub.publish("room", 2);
    room.closer().close();
    assert_eq!(hub.publish("room", 3), 0);
    assert_eq!(
        (room.recv(), room.recv(), room.recv()),
        (Some(1), Some(2), None)
    );
    assert!(room.is_closed());
}

#[test]
fn a_closer_ends_a_coroutine_waiting_for_the_next_message() {
    let hub: Hub<u32> = Hub::new(8, Overflow::DropOldest);
    let room = hub.subscribe("room");
    let closer = room.closer();
    let (waiting, is_waiting) = std::sync::mpsc::channel();
    let forwarder = runtime::spawn(move || {
        waiting.send(()).unwrap();
        let mut forwarded = 0;
        while room.recv().is_some() {
            forwarded += 1;
        }
        forwarded
    });
    is_waiting.recv_timeout(TIMEOUT).unwrap();
    closer.close();
    let forwarded = within(TIMEOUT, move || forwarder.join().unwrap());
    assert_eq!(forwarded, 0);
}
