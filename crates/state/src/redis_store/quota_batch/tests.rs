use super::*;

/// A take of `counter` (limit `limit`) due `deadline_in` after `now`, and its answer.
fn take(
    counter: &str,
    limit: u64,
    now: Instant,
    deadline_in: Duration,
) -> (Take, oneshot::Receiver<Answer>) {
    let (answer, rx) = oneshot::channel();
    let take = Take {
        counter: counter.to_owned(),
        limit,
        expires_at: 1_000,
        deadline: now + deadline_in,
        answer,
    };
    (take, rx)
}

fn shape(calls: &[Call]) -> Vec<Vec<(&str, u64, usize)>> {
    calls
        .iter()
        .map(|c| {
            c.groups
                .iter()
                .map(|g| (g.counter.as_str(), g.limit, g.waiters.len()))
                .collect()
        })
        .collect()
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn on_one_server_a_batch_is_one_call_with_each_counter_once() {
    let now = Instant::now();
    let mut rxs = Vec::new();
    let mut takes = Vec::new();
    for (counter, limit) in [("q:a", 5), ("q:b", 5), ("q:a", 5), ("q:a", 7), ("q:b", 5)] {
        let (t, rx) = take(counter, limit, now, SECOND);
        takes.push(t);
        rxs.push(rx);
    }
    // The oldest take bounds the call.
    takes[0].deadline = now + Duration::from_millis(200);
    let calls = plan(takes.into_iter(), false, now);
    assert_eq!(
        shape(&calls),
        [vec![("q:a", 5, 2), ("q:b", 5, 2), ("q:a", 7, 1)]],
        "a counter asked with another limit (a reload) is a group of its own"
    );
    assert_eq!(calls[0].takes, 5);
    assert_eq!(calls[0].deadline, now + Duration::from_millis(200));
}

#[test]
fn on_a_cluster_each_slot_gets_its_own_call() {
    let now = Instant::now();
    // `{x}` hash tags put the first two in one slot; the third is elsewhere.
    let names = ["{x}:quota:1", "{x}:quota:2", "other:quota:3"];
    assert_eq!(Slot::for_key(names[0]), Slot::for_key(names[1]));
    assert_ne!(Slot::for_key(names[0]), Slot::for_key(names[2]));
    let (takes, _rxs): (Vec<_>, Vec<_>) = names.iter().map(|n| take(n, 9, now, SECOND)).unzip();
    let calls = plan(takes.into_iter(), true, now);
    assert_eq!(
        shape(&calls),
        [
            vec![("{x}:quota:1", 9, 1), ("{x}:quota:2", 9, 1)],
            vec![("other:quota:3", 9, 1)]
        ]
    );
}

#[test]
fn a_call_carries_at_most_max_takes() {
    let now = Instant::now();
    let (takes, _rxs): (Vec<_>, Vec<_>) = (0..MAX_TAKES + 3)
        .map(|_| take("q:a", 1_000, now, SECOND))
        .unzip();
    let calls = plan(takes.into_iter(), false, now);
    assert_eq!(
        shape(&calls),
        [vec![("q:a", 1_000, MAX_TAKES)], vec![("q:a", 1_000, 3)]]
    );
}

#[test]
fn gone_requests_are_not_sent_and_late_ones_are_answered_at_once() {
    let now = Instant::now();
    let (gone, rx) = take("q:a", 5, now, SECOND);
    drop(rx);
    let (late, mut late_rx) = take("q:a", 5, now, Duration::ZERO);
    let (kept, _rx) = take("q:a", 5, now, SECOND);
    let calls = plan([gone, late, kept].into_iter(), false, now);
    assert_eq!(shape(&calls), [vec![("q:a", 5, 1)]]);
    let answer = late_rx.try_recv().expect("answered");
    assert!(answer.is_err(), "{answer:?}");
}

#[test]
fn the_oldest_takes_of_a_counter_are_admitted_first() {
    let (senders, mut rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| oneshot::channel()).unzip();
    let group = Group {
        counter: "q:a".into(),
        limit: 10,
        expires_at: 1_000,
        waiters: senders,
    };
    // Two of four admitted: the counter went from 8 to 10.
    group.answer(2, 10);
    let answers: Vec<_> = rxs
        .iter_mut()
        .map(|rx| rx.try_recv().expect("answered").expect("ok"))
        .collect();
    assert_eq!(
        answers,
        [
            QuotaTake::Admitted { count: 9 },
            QuotaTake::Admitted { count: 10 },
            QuotaTake::Exceeded { count: 10 },
            QuotaTake::Exceeded { count: 10 },
        ]
    );
}
