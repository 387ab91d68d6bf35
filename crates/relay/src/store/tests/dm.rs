//! Store tests of the DM spool: caps, expiry, acks, tombstones, the outbox and the DM feed.
use postern_core::caps::{CapError, SpoolLimits};
use rusqlite::params;

use super::super::*;
use super::{env, nonce, outbox, outbox_counted, proof, R};

#[test]
fn jobs_are_queued_with_the_write_and_bounded_per_peer() {
    let mut s = Store::open_in_memory().unwrap();
    let (o, metrics) = outbox_counted(&["http://a", "http://b"], 3);
    s.set_outbox(o);
    let limits = SpoolLimits {
        per_sender_cap: 100,
        mailbox_cap: 100,
        ttl_secs: 100,
    };
    s.register(nonce(R, "n0", 1000), "pk", "dh", None, 0)
        .unwrap()
        .unwrap();
    // A local deposit queues one row per peer; a duplicate queues nothing.
    s.deposit(&env(R, "msg-0001", "aa"), &limits, 1).unwrap();
    s.deposit(&env(R, "msg-0001", "aa"), &limits, 1).unwrap();
    assert_eq!(s.outbox_len().unwrap(), 2);
    // A replica from peer a is queued for b only.
    s.deposit_replica(&env(R, "msg-0002", "aa"), &limits, 50, 1, Some("http://a"))
        .unwrap();
    assert_eq!(s.outbox_len().unwrap(), 3);
    let head = s.outbox_head("http://b").unwrap().unwrap();
    assert_eq!(head.path, postern_core::api::peer::PATH_REPLICATE_ENVELOPE);
    assert!(head.body.contains("msg-0001"));
    // Retry keeps the row at the head with its schedule; resume makes it due now.
    s.outbox_retry(head.id, 1, 40).unwrap();
    let again = s.outbox_head("http://b").unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts, again.next_attempt_at),
        (head.id, 1, 40)
    );
    s.outbox_resume("http://b", 2).unwrap();
    assert_eq!(
        s.outbox_head("http://b").unwrap().unwrap().next_attempt_at,
        2
    );
    s.outbox_done(head.id).unwrap();
    assert!(s
        .outbox_head("http://b")
        .unwrap()
        .unwrap()
        .body
        .contains("msg-0002"));
    // Bound: b holds at most 3 rows; the oldest are dropped and counted as errors.
    for i in 3..8 {
        s.deposit(&env(R, &format!("msg-000{i}"), "aa"), &limits, 1)
            .unwrap();
    }
    let rows = |p: &str| -> i64 {
        s.conn
            .query_row(
                "SELECT COUNT(*) FROM replication_outbox WHERE peer = ?1",
                params![p],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!((rows("http://a"), rows("http://b")), (3, 3));
    // The maintained per-peer lengths (migration 12) equal the counts, through queue, done
    // and the drops of the bound; an emptied peer has no row left.
    let counted = |s: &Store, p: &str| -> (i64, i64) {
        let q = |sql: &str| -> i64 { s.conn.query_row(sql, params![p], |r| r.get(0)).unwrap() };
        (
            q("SELECT COUNT(*) FROM replication_outbox WHERE peer = ?1"),
            q("SELECT COALESCE((SELECT n FROM replication_outbox_counts WHERE peer = ?1), 0)"),
        )
    };
    assert_eq!(counted(&s, "http://a"), (3, 3));
    assert_eq!(counted(&s, "http://b"), (3, 3));
    assert_eq!(s.outbox_len().unwrap(), 6);
    while let Some(job) = s.outbox_head("http://a").unwrap() {
        s.outbox_done(job.id).unwrap();
    }
    assert_eq!(counted(&s, "http://a"), (0, 0));
    assert_eq!(s.outbox_len().unwrap(), 3);
    assert!(s
        .outbox_head("http://b")
        .unwrap()
        .unwrap()
        .body
        .contains("msg-0005"));
    let text = metrics.render(crate::metrics::Gauges::default());
    assert!(
        text.contains("postern_replication_total{result=\"error\"} 6"),
        "{text}"
    );
}

#[test]
fn acks_leave_tombstones_that_refuse_late_replicas() {
    let mut s = Store::open_in_memory().unwrap();
    s.set_outbox(outbox(&["http://a", "http://b"], 100));
    let limits = SpoolLimits {
        per_sender_cap: 100,
        mailbox_cap: 100,
        ttl_secs: 100,
    };
    let other = "!sb_00000000000000000000000000000002";
    // The ack arrives (from peer a) before the replica: nothing removed, but the id is newly
    // tombstoned, so the owner's statement goes on to b (only); the same ack again stops.
    let ids = ["msg-0001".to_string()];
    assert!(s
        .remove_messages(other, &ids, &proof(other), Some("http://a"), 100, 10)
        .unwrap()
        .is_empty());
    assert_eq!(s.outbox_len().unwrap(), 1);
    assert!(s
        .outbox_head("http://b")
        .unwrap()
        .unwrap()
        .body
        .contains("owner_ack"));
    assert!(s
        .remove_messages(other, &ids, &proof(other), Some("http://b"), 100, 10)
        .unwrap()
        .is_empty());
    assert_eq!(s.outbox_len().unwrap(), 1);
    // The late replica is a duplicate: not stored, not forwarded.
    assert_eq!(
        s.deposit_replica(
            &env(other, "msg-0001", "aa"),
            &limits,
            50,
            11,
            Some("http://b")
        )
        .unwrap(),
        Deposit::Duplicate { expires_at: 110 }
    );
    assert_eq!(s.spool_sizes().unwrap().1, 0);
    assert_eq!(s.outbox_len().unwrap(), 1);
    // Stored, acked locally, then re-deposited: a duplicate until the message's expiry.
    s.register(nonce(R, "n0", 1000), "pk", "dh", None, 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        s.deposit(&env(R, "msg-0002", "aa"), &limits, 20).unwrap(),
        Deposit::Stored { expires_at: 120 }
    );
    assert_eq!(
        s.ack(
            nonce(R, "n1", 1000),
            &["msg-0002".into()],
            &proof(R),
            100,
            21
        )
        .unwrap(),
        Ok(1)
    );
    assert_eq!(s.outbox_len().unwrap(), 5);
    assert_eq!(
        s.deposit(&env(R, "msg-0002", "aa"), &limits, 22).unwrap(),
        Deposit::Duplicate { expires_at: 120 }
    );
    assert_eq!(s.outbox_len().unwrap(), 5);
    // Once the tombstone expires it is pruned and the id may be stored again.
    assert_eq!(
        s.deposit(&env(R, "msg-0002", "aa"), &limits, 120).unwrap(),
        Deposit::Stored { expires_at: 220 }
    );
    let n: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM dm_tombstones", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "expired tombstones are pruned");
}

#[test]
fn delivery_states_follow_spool_and_tombstones() {
    use postern_core::api::dm::DeliveryState::{Delivered, Pending, Unknown};
    let mut s = Store::open_in_memory().unwrap();
    let limits = SpoolLimits {
        per_sender_cap: 100,
        mailbox_cap: 100,
        ttl_secs: 100,
    };
    s.register(nonce(R, "n0", 1000), "pk", "dh", None, 0)
        .unwrap()
        .unwrap();
    s.deposit(&env(R, "msg-0001", "aa"), &limits, 10).unwrap();
    s.deposit(&env(R, "msg-0002", "aa"), &limits, 10).unwrap();
    let ids: Vec<String> = ["msg-0001", "msg-0002", "msg-0003"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        s.delivery_states(R, &ids, 11).unwrap(),
        [Pending, Pending, Unknown]
    );
    // Acked by the owner here; another recipient's ids are never confused with R's.
    assert_eq!(
        s.ack(nonce(R, "n1", 1000), &ids[..1], &proof(R), 100, 12)
            .unwrap(),
        Ok(1)
    );
    assert_eq!(
        s.delivery_states(R, &ids, 13).unwrap(),
        [Delivered, Pending, Unknown]
    );
    assert_eq!(
        s.delivery_states("!sb_00000000000000000000000000000002", &ids, 13)
            .unwrap(),
        [Unknown; 3]
    );
    // An ack replicated from a peer reads as delivered too.
    s.remove_messages(R, &ids[1..2], &proof(R), Some("http://a"), 100, 14)
        .unwrap();
    assert_eq!(
        s.delivery_states(R, &ids, 15).unwrap(),
        [Delivered, Delivered, Unknown]
    );
    // Past the message's expiry the tombstone no longer answers.
    assert_eq!(s.delivery_states(R, &ids, 110).unwrap(), [Unknown; 3]);
}

#[test]
fn dm_feed_pages_acks_and_cursors() {
    let mut s = Store::open_in_memory().unwrap();
    let limits = SpoolLimits {
        per_sender_cap: 100,
        mailbox_cap: 100,
        ttl_secs: 100,
    };
    s.register(nonce(R, "n0", 1000), "pk", "dh", None, 0)
        .unwrap()
        .unwrap();
    for i in 1..=3 {
        s.deposit(&env(R, &format!("msg-000{i}"), "aa"), &limits, 1)
            .unwrap();
    }
    // Each envelope is stored once: its feed row points at the spooled message.
    let copies: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM dm_feed WHERE body != ''", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(copies, 0);
    // Pages in seq order, limited by count and (after the first row) bytes.
    let (p1, more) = s.dm_feed_page(0, 2, 1 << 20, 2).unwrap();
    assert_eq!((p1.len(), more), (2, true));
    let (p2, more) = s.dm_feed_page(p1[1].seq, 2, 1 << 20, 2).unwrap();
    assert_eq!((p2.len(), more), (1, false));
    assert_eq!(s.dm_feed_page(0, 10, 1, 2).unwrap().0.len(), 1);
    // An ack drops the envelope from the feed and appends the owner's statement.
    assert_eq!(
        s.ack(
            nonce(R, "n1", 1000),
            &["msg-0001".into()],
            &proof(R),
            100,
            3
        )
        .unwrap(),
        Ok(1)
    );
    let (all, _) = s.dm_feed_page(0, 10, 1 << 20, 3).unwrap();
    let kinds: Vec<&str> = all.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["envelope", "envelope", "ack"]);
    let ack: postern_core::api::peer::ReplicateAckRequest =
        serde_json::from_str(&all[2].body).unwrap();
    assert_eq!(ack.msg_ids, ["msg-0001"]);
    assert_eq!(ack.owner_ack, Some(proof(R)));
    // Expired rows are pruned and never served.
    s.deposit(&env(R, "msg-0009", "bb"), &limits, 200).unwrap();
    let (all, _) = s.dm_feed_page(0, 10, 1 << 20, 200).unwrap();
    assert_eq!(all.len(), 1);
    // Cursors: persisted per peer, item counts add up.
    s.set_pull_cursor("http://a", 7, 3, 1).unwrap();
    s.set_pull_cursor("http://a", 9, 2, 2).unwrap();
    assert_eq!(s.pull_cursor("http://a").unwrap(), (9, 5));
    assert_eq!(s.pull_cursor("http://b").unwrap(), (0, 0));
}

#[test]
fn caps_expiry_and_ack() {
    let mut s = Store::open_in_memory().unwrap();
    let limits = SpoolLimits {
        per_sender_cap: 2,
        mailbox_cap: 3,
        ttl_secs: 10,
    };
    let unknown = env("!sb_00000000000000000000000000000002", "msg-0001", "aa");
    assert_eq!(
        s.deposit(&unknown, &limits, 0).unwrap(),
        Deposit::RecipientUnknown
    );
    s.register(nonce(R, "n0", 1000), "pk", "dh", None, 0)
        .unwrap()
        .unwrap();
    let a = |id: &str| env(R, id, "aa");
    assert_eq!(
        s.deposit(&a("msg-0001"), &limits, 0).unwrap(),
        Deposit::Stored { expires_at: 10 }
    );
    assert_eq!(
        s.deposit(&a("msg-0002"), &limits, 1).unwrap(),
        Deposit::Stored { expires_at: 11 }
    );
    assert_eq!(
        s.deposit(&a("msg-0001"), &limits, 2).unwrap(),
        Deposit::Duplicate { expires_at: 10 }
    );
    assert_eq!(
        s.deposit(&a("msg-0003"), &limits, 2).unwrap(),
        Deposit::Refused(CapError::SenderCapReached { cap: 2 })
    );
    s.deposit(&env(R, "msg-0004", "bb"), &limits, 2).unwrap();
    assert_eq!(
        s.deposit(&env(R, "msg-0005", "cc"), &limits, 2).unwrap(),
        Deposit::Refused(CapError::MailboxFull { cap: 3 })
    );
    // msg-0001 expires at 10: it no longer counts and no longer shows.
    assert_eq!(
        s.deposit(&a("msg-0003"), &limits, 10).unwrap(),
        Deposit::Stored { expires_at: 20 }
    );
    let (msgs, total) = s.poll(nonce(R, "n1", 1000), 10, 10).unwrap().unwrap();
    let ids: Vec<_> = msgs.iter().map(|m| m.envelope.msg_id.as_str()).collect();
    assert_eq!(ids, ["msg-0002", "msg-0004", "msg-0003"]);
    assert_eq!(total, 3);
    let (msgs, total) = s.poll(nonce(R, "n2", 1000), 1, 10).unwrap().unwrap();
    assert_eq!((msgs.len(), total), (1, 3));
    let other = "!sb_00000000000000000000000000000003";
    assert_eq!(
        s.ack(
            nonce(other, "n3", 1000),
            &["msg-0002".into()],
            &proof(other),
            10,
            10
        )
        .unwrap(),
        Ok(0)
    );
    assert_eq!(
        s.ack(
            nonce(R, "n3", 1000),
            &["msg-0002".into(), "msg-0002".into(), "nope".into()],
            &proof(R),
            10,
            10
        )
        .unwrap(),
        Ok(1)
    );
}

#[test]
fn a_group_commit_applies_its_deposits_in_order_with_the_caps_of_one_by_one() {
    let mut s = Store::open_in_memory().unwrap();
    let limits = SpoolLimits {
        per_sender_cap: 2,
        mailbox_cap: 3,
        ttl_secs: 10,
    };
    s.register(nonce(R, "n0", 1000), "pk", "dh", None, 0)
        .unwrap()
        .unwrap();
    let unknown = "!sb_00000000000000000000000000000002";
    let envs = [
        env(R, "msg-0001", "aa"),
        env(R, "msg-0002", "aa"),
        env(R, "msg-0001", "aa"),
        env(R, "msg-0003", "aa"),
        env(unknown, "msg-0004", "aa"),
        env(R, "msg-0005", "bb"),
        env(R, "msg-0006", "cc"),
    ];
    let mut reqs: Vec<DepositRequest<'_>> = envs
        .iter()
        .map(|e| DepositRequest {
            envelope: e,
            replica: None,
            now: 1,
        })
        .collect();
    // A replica for a recipient not registered here is stored.
    let replica = env(unknown, "msg-0007", "dd");
    reqs.push(DepositRequest {
        envelope: &replica,
        replica: Some((5, "https://peer.example")),
        now: 1,
    });
    let out: Vec<Deposit> = s
        .deposit_batch(&reqs, &limits)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        out,
        [
            Deposit::Stored { expires_at: 11 },
            Deposit::Stored { expires_at: 11 },
            Deposit::Duplicate { expires_at: 11 },
            Deposit::Refused(CapError::SenderCapReached { cap: 2 }),
            Deposit::RecipientUnknown,
            Deposit::Stored { expires_at: 11 },
            Deposit::Refused(CapError::MailboxFull { cap: 3 }),
            Deposit::Stored { expires_at: 5 },
        ]
    );
    let (msgs, total) = s.poll(nonce(R, "n1", 1000), 10, 2).unwrap().unwrap();
    let ids: Vec<_> = msgs.iter().map(|m| m.envelope.msg_id.as_str()).collect();
    assert_eq!((ids, total), (vec!["msg-0001", "msg-0002", "msg-0005"], 3));
}
