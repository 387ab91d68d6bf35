//! Store tests of the maintained mailbox counters (migration 11): after every kind of write they
//! equal a fresh count of `messages`, and the caps decide exactly as counting did.
use postern_core::caps::{
    check_budgeted, Budget, BudgetedState, CapError, DepositDecision, SpoolLimits,
    DEFAULT_STRANGER_CAP,
};
use postern_core::dm::DmEnvelope;
use proptest::prelude::*;
use rusqlite::params;

use super::super::migrations::MIGRATIONS;
use super::super::*;
use super::{database_at_version, env, nonce, outbox, proof};

const LIMITS: SpoolLimits = SpoolLimits {
    per_sender_cap: 3,
    mailbox_cap: 10,
    ttl_secs: 20,
};

/// Recipients: 0 and 1 registered, 2 known only through replicas.
fn rcpt(i: u8) -> String {
    format!("!sb_{:032x}", u32::from(i % 3) + 1)
}

fn sref(i: u8) -> String {
    format!("{:032x}", 0xaa00 + u32::from(i % 6))
}

fn mid(i: u8) -> String {
    format!("msg-{:04}", i % 12)
}

/// Rows of a query, as (key, count, count) triples sorted by key.
fn rows(s: &Store, sql: &str) -> Vec<(String, i64, i64)> {
    let mut stmt = s.conn.prepare(sql).unwrap();
    let out = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out
}

/// The counters equal a fresh `COUNT(*)` over `messages` (expired-but-unpruned rows included
/// on both sides), and no zero rows are left behind.
fn assert_counts_exact(s: &Store) {
    let fresh_mailbox = rows(
        s,
        "SELECT m.recipient_id, COUNT(*),
                SUM(EXISTS (SELECT 1 FROM dm_contacts c
                            WHERE c.owner_id = m.recipient_id AND c.sender_ref = m.sender_ref))
         FROM messages m GROUP BY m.recipient_id ORDER BY m.recipient_id",
    );
    let kept_mailbox = rows(
        s,
        "SELECT recipient_id, total, contacts FROM dm_mailbox_counts ORDER BY recipient_id",
    );
    assert_eq!(kept_mailbox, fresh_mailbox, "mailbox counters drifted");
    let fresh_pairs = rows(
        s,
        "SELECT recipient_id || '/' || sender_ref, COUNT(*), 0 FROM messages
         GROUP BY recipient_id, sender_ref ORDER BY recipient_id, sender_ref",
    );
    let kept_pairs = rows(
        s,
        "SELECT recipient_id || '/' || sender_ref, n, 0 FROM dm_pair_counts
         ORDER BY recipient_id, sender_ref",
    );
    assert_eq!(kept_pairs, fresh_pairs, "pair counters drifted");
}

/// What a deposit must answer, decided the way the store did before the counters: by counting
/// the unexpired messages (`None` = stored).
fn reference(s: &Store, e: &DmEnvelope, replica: bool, now: u64) -> Option<Deposit> {
    let now = now as i64;
    let one = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> i64 {
        s.conn.query_row(sql, p, |r| r.get(0)).unwrap()
    };
    let (to, from, id) = (&e.recipient_id, &e.sender_ref, &e.msg_id);
    if !replica && one("SELECT COUNT(*) FROM nodes WHERE node_id = ?1", &[to]) == 0 {
        return Some(Deposit::RecipientUnknown);
    }
    let live = "AND recipient_id = ?1 AND expires_at > ?3";
    let tomb = one(
        &format!("SELECT COALESCE(MAX(expires_at), 0) FROM dm_tombstones WHERE msg_id = ?2 {live}"),
        &[to, id, &now],
    );
    if tomb > 0 {
        return Some(Deposit::Duplicate {
            expires_at: tomb as u64,
        });
    }
    let existing = one(
        &format!("SELECT COALESCE(MAX(expires_at), 0) FROM messages WHERE msg_id = ?2 {live}"),
        &[to, id, &now],
    );
    let pair_len = one(
        &format!("SELECT COUNT(*) FROM messages WHERE sender_ref = ?2 {live}"),
        &[to, from, &now],
    );
    let has_list = one(
        "SELECT COUNT(*) FROM dm_contact_lists WHERE owner_id = ?1",
        &[to],
    ) > 0;
    let listed = one(
        "SELECT COUNT(*) FROM dm_contacts WHERE owner_id = ?1 AND sender_ref = ?2",
        &[to, from],
    ) > 0;
    let budget = match (has_list, listed) {
        (false, _) => Budget::Shared,
        (true, true) => Budget::Contact,
        (true, false) => Budget::Stranger,
    };
    let class = "EXISTS (SELECT 1 FROM dm_contacts c
                         WHERE c.owner_id = m.recipient_id AND c.sender_ref = m.sender_ref)";
    let budget_len = match budget {
        Budget::Shared => format!("SELECT COUNT(*) FROM messages m WHERE ?2 = ?2 {live}"),
        Budget::Contact | Budget::Stranger => {
            format!("SELECT COUNT(*) FROM messages m WHERE {class} = ?2 {live}")
        }
    };
    let budget_len = one(&budget_len, &[to, &(budget == Budget::Contact), &now]);
    let state = BudgetedState {
        already_stored: existing > 0,
        pair_len: pair_len as usize,
        budget,
        budget_len: budget_len as usize,
    };
    match check_budgeted(&LIMITS, DEFAULT_STRANGER_CAP.min(LIMITS.mailbox_cap), state) {
        Err(cap) => Some(Deposit::Refused(cap)),
        Ok(DepositDecision::Duplicate) => Some(Deposit::Duplicate {
            expires_at: existing as u64,
        }),
        Ok(DepositDecision::Store) => None,
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// A local deposit, or (with an origin expiry ahead of now) a replica from a peer.
    Deposit {
        to: u8,
        msg: u8,
        from: u8,
        replica: Option<u64>,
    },
    /// One group commit of several deposits.
    Batch(Vec<(u8, u8, u8, Option<u64>)>),
    /// The owner's own ack, or (`peer`) one replicated from a peer.
    Ack {
        to: u8,
        msgs: Vec<u8>,
        peer: bool,
    },
    /// Replace the owner's contact list.
    Contacts {
        to: u8,
        refs: Vec<u8>,
    },
    Poll {
        to: u8,
    },
    /// Let time pass (messages expire; the next write prunes them).
    Wait(u64),
}

struct Run {
    s: Store,
    now: u64,
    nonces: u32,
}

impl Run {
    fn new() -> Run {
        let mut s = Store::open_in_memory().unwrap();
        s.set_outbox(outbox(&["http://a", "http://b"], 1000));
        for i in 0..2 {
            let r = rcpt(i);
            s.register(nonce(&r, "reg", 1_000_000), "pk", "dh", None, 0)
                .unwrap()
                .unwrap();
        }
        Run {
            s,
            now: 1,
            nonces: 0,
        }
    }

    fn nonce_id(&mut self) -> String {
        self.nonces += 1;
        format!("n{}", self.nonces)
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Deposit {
                to,
                msg,
                from,
                replica,
            } => {
                let e = env(&rcpt(*to), &mid(*msg), &sref(*from));
                let want = reference(&self.s, &e, replica.is_some(), now);
                let got = match replica {
                    None => self.s.deposit(&e, &LIMITS, now),
                    Some(t) => self
                        .s
                        .deposit_replica(&e, &LIMITS, now + t, now, Some("http://a")),
                }
                .unwrap();
                match want {
                    Some(w) => assert_eq!(got, w, "{op:?} at {now}"),
                    None => assert!(matches!(got, Deposit::Stored { .. }), "{op:?}: {got:?}"),
                }
            }
            Op::Batch(items) => {
                let envs: Vec<DmEnvelope> = items
                    .iter()
                    .map(|(to, msg, from, _)| env(&rcpt(*to), &mid(*msg), &sref(*from)))
                    .collect();
                let reqs: Vec<DepositRequest<'_>> = envs
                    .iter()
                    .zip(items)
                    .map(|(e, item)| DepositRequest {
                        envelope: e,
                        replica: item.3.map(|t| (now + t, "http://b")),
                        now,
                    })
                    .collect();
                for r in self.s.deposit_batch(&reqs, &LIMITS).unwrap() {
                    r.unwrap();
                }
            }
            Op::Ack { to, msgs, peer } => {
                let r = rcpt(*to);
                let ids: Vec<String> = msgs.iter().map(|m| mid(*m)).collect();
                if *peer {
                    self.s
                        .remove_messages(&r, &ids, &proof(&r), Some("http://b"), 20, now)
                        .unwrap();
                } else {
                    let n = self.nonce_id();
                    self.s
                        .ack(nonce(&r, &n, now + 100), &ids, &proof(&r), 20, now)
                        .unwrap()
                        .unwrap();
                }
            }
            Op::Contacts { to, refs } => {
                let r = rcpt(*to);
                let mut list: Vec<String> = refs.iter().map(|i| sref(*i)).collect();
                list.sort();
                list.dedup();
                let n = self.nonce_id();
                self.s
                    .set_contacts(nonce(&r, &n, now + 100), &list, now)
                    .unwrap()
                    .unwrap();
            }
            Op::Poll { to } => {
                let r = rcpt(*to);
                let n = self.nonce_id();
                let (_, total) = self
                    .s
                    .poll(nonce(&r, &n, now + 100), 100, now)
                    .unwrap()
                    .unwrap();
                let fresh: i64 = self
                    .s
                    .conn
                    .query_row(
                        "SELECT COUNT(*) FROM messages WHERE recipient_id = ?1",
                        params![r],
                        |row| row.get(0),
                    )
                    .unwrap();
                assert_eq!(total, fresh as u64);
            }
            Op::Wait(t) => self.now += t,
        }
        assert_counts_exact(&self.s);
    }
}

fn op() -> impl Strategy<Value = Op> {
    let replica = prop::option::weighted(0.3, 1u64..30);
    prop_oneof![
        8 => (0u8..3, 0u8..12, 0u8..6, replica.clone()).prop_map(|(to, msg, from, replica)| {
            Op::Deposit { to, msg, from, replica }
        }),
        2 => prop::collection::vec((0u8..3, 0u8..12, 0u8..6, replica), 1..8).prop_map(Op::Batch),
        2 => (0u8..3, prop::collection::vec(0u8..12, 1..4), any::<bool>())
            .prop_map(|(to, msgs, peer)| Op::Ack { to, msgs, peer }),
        1 => (0u8..2, prop::collection::vec(0u8..6, 0..4))
            .prop_map(|(to, refs)| Op::Contacts { to, refs }),
        1 => (0u8..3).prop_map(|to| Op::Poll { to }),
        1 => (1u64..15).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random sequences of every write: the counters never drift and every deposit is decided
    /// as counting decided it.
    #[test]
    fn counters_never_drift(ops in prop::collection::vec(op(), 1..80)) {
        let mut run = Run::new();
        for o in &ops {
            run.apply(o);
        }
    }
}

/// One sequence touching every path: the per-sender cap and the shared budget filling up,
/// duplicates and tombstones refused, replicas, a group commit, both kinds of ack, a contact
/// list changing under stored messages, and expiry.
#[test]
fn a_mixed_sequence_keeps_the_counters_exact() {
    let mut run = Run::new();
    let dep = |to, msg, from| Op::Deposit {
        to,
        msg,
        from,
        replica: None,
    };
    // Shared budget: per-sender cap, then the mailbox cap (10).
    for (m, f) in [(0, 0), (1, 0), (2, 0), (3, 0), (0, 0)] {
        run.apply(&dep(0, m, f));
    }
    for m in 4..12 {
        run.apply(&dep(0, m, 1 + m % 4));
    }
    // A contact list turns stored messages into contact / stranger ones.
    run.apply(&Op::Contacts {
        to: 0,
        refs: vec![0, 1],
    });
    run.apply(&Op::Ack {
        to: 0,
        msgs: vec![0, 1, 5],
        peer: false,
    });
    run.apply(&dep(0, 0, 0));
    run.apply(&Op::Ack {
        to: 0,
        msgs: vec![2, 4],
        peer: true,
    });
    run.apply(&dep(0, 2, 5));
    // Replicas, for a registered and an unregistered recipient, and a tombstoned id.
    for (to, m, f, t) in [(1, 0, 0, 5), (2, 1, 3, 8), (2, 2, 3, 8), (0, 1, 0, 9)] {
        run.apply(&Op::Deposit {
            to,
            msg: m,
            from: f,
            replica: Some(t),
        });
    }
    run.apply(&Op::Batch(vec![
        (1, 3, 2, None),
        (1, 3, 2, None),
        (2, 4, 4, Some(3)),
        (1, 5, 2, None),
        (1, 6, 2, None),
        (1, 7, 2, None),
    ]));
    run.apply(&Op::Contacts {
        to: 0,
        refs: vec![],
    });
    run.apply(&Op::Poll { to: 0 });
    // Expiry: the replicas go first, then everything.
    run.apply(&Op::Wait(10));
    run.apply(&dep(1, 8, 5));
    run.apply(&Op::Wait(30));
    run.apply(&Op::Poll { to: 2 });
    let left: i64 = run
        .s
        .conn
        .query_row("SELECT COUNT(*) FROM dm_mailbox_counts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

/// A database at the previous migration, holding messages and a contact list, gets exact
/// counters, and the caps read them.
#[test]
fn the_counters_migration_counts_existing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let version = MIGRATIONS
        .iter()
        .position(|m| m.contains("CREATE TABLE dm_mailbox_counts"))
        .unwrap();
    let (a, b) = (rcpt(0), rcpt(1));
    {
        let conn = database_at_version(dir.path(), version);
        for r in [&a, &b] {
            conn.execute(
                "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at) VALUES (?1, 'pk', 'dh', 1)",
                params![r],
            )
            .unwrap();
        }
        let msgs = [
            (&a, 0, 0),
            (&a, 1, 0),
            (&a, 2, 0),
            (&a, 3, 1),
            (&a, 4, 2),
            (&b, 0, 0),
        ];
        for (r, m, f) in msgs {
            let e = env(r, &mid(m), &sref(f));
            conn.execute(
                "INSERT INTO messages (recipient_id, msg_id, sender_ref, envelope, received_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, 1, 1000)",
                params![r, e.msg_id, e.sender_ref, serde_json::to_string(&e).unwrap()],
            )
            .unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO dm_contact_lists (owner_id, updated_at) VALUES ('{a}', 1);
             INSERT INTO dm_contacts (owner_id, sender_ref) VALUES ('{a}', '{}');",
            sref(1)
        ))
        .unwrap();
    }
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_counts_exact(&s);
    let counts = rows(
        &s,
        "SELECT recipient_id, total, contacts FROM dm_mailbox_counts ORDER BY recipient_id",
    );
    assert_eq!(counts, [(a.clone(), 5, 1), (b.clone(), 1, 0)]);
    // Sender 0 already has 3 messages for a (the cap); a's strangers hold 4 of 8.
    assert_eq!(
        s.deposit(&env(&a, &mid(9), &sref(0)), &LIMITS, 2).unwrap(),
        Deposit::Refused(CapError::SenderCapReached { cap: 3 })
    );
    assert_eq!(
        s.deposit(&env(&a, &mid(9), &sref(3)), &LIMITS, 2).unwrap(),
        Deposit::Stored { expires_at: 22 }
    );
    assert_counts_exact(&s);
}
