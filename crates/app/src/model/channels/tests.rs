//! Tests of the public channels reducer.
use super::*;
use postern_core::channels::group;
use postern_core::json::Value;
use rand_core::OsRng;

/// The event a relay stores for the queued post `p`, linked onto `prev` (what a rebase
/// changes): the request body carries the event's signed fields under the same names.
fn on_chain(p: &QueuedPost, prev: &str, ts: f64) -> ChainEvent {
    let v = postern_core::json::parse(p.body.as_bytes()).unwrap();
    let mut e = ChainEvent::from_value(&v).unwrap();
    e.prev_hash = prev.into();
    e.timestamp = Value::Float(ts);
    e.event_id = e.computed_event_id();
    assert_eq!(Statement::of(&e), p.key());
    e
}

fn ok(_e: &ChainEvent) -> Result<(), RelayError> {
    Ok(())
}

fn queue(m: &mut ChannelsModel, env: &Env, text: &str) -> QueuedPost {
    m.reduce(Action::SetDraft(text.into()), env);
    m.reduce(Action::Send, env);
    let Some(Effect::Queue(p)) = m.take_effects().pop() else {
        panic!("queued")
    };
    m.reduce(Action::Queued(Ok(Box::new(p.clone()))), env);
    p
}

#[test]
fn offline_post_is_retried_with_backoff_and_sent_once() {
    let me = Identity::generate(&mut OsRng);
    let mut env = Env {
        identity: &me,
        leader: true,
        now_ms: 1_000_000,
    };
    let mut m = ChannelsModel::new();
    let p = queue(&mut m, &env, "hello");
    assert_eq!(p.channel, DEFAULT_CHANNEL);
    assert_eq!(p.sequence, 1_000_000);
    let fx = m.take_effects();
    assert_eq!(fx, vec![Effect::Flush(vec![p.clone()])]);
    m.reduce(
        Action::Flushed(vec![(p.key(), Err(RelayError::Unreachable("down".into())))]),
        &env,
    );
    assert_eq!(m.online, Some(false));
    assert!(
        m.take_effects().is_empty(),
        "still queued: nothing to persist"
    );
    // Not due yet: a read does not retry.
    m.reduce(Action::Tick, &env);
    let read = ReadOut {
        chain: None,
        outbox: Some(vec![p.clone()]),
        sync_ok_at: 0,
    };
    m.take_effects();
    m.reduce(Action::Read(Ok(read.clone())), &env);
    assert!(m.take_effects().is_empty());
    env.now_ms += 1000 * outbox_retry_delay_s(1, 0);
    m.reduce(Action::Read(Ok(read.clone())), &env);
    assert_eq!(m.take_effects(), vec![Effect::Flush(vec![p.clone()])]);
    m.reduce(
        Action::Flushed(vec![(p.key(), Err(RelayError::Unreachable("down".into())))]),
        &env,
    );
    m.reduce(Action::Read(Ok(read.clone())), &env);
    assert!(m.take_effects().is_empty(), "backing off");
    // The chain sync reached the relay again: retried at once.
    let back = ReadOut {
        sync_ok_at: 7,
        ..read
    };
    m.reduce(Action::Read(Ok(back)), &env);
    assert_eq!(m.take_effects(), vec![Effect::Flush(vec![p.clone()])]);
    let stored = on_chain(&p, "aa", 1.0);
    m.reduce(Action::Flushed(vec![(p.key(), ok(&stored))]), &env);
    let fx = m.take_effects();
    assert!(
        matches!(&fx[..], [Effect::SyncChain, Effect::Persist(q)] if q.state == PostState::Sent),
        "stored: persisted, and the chain sync asked to run now"
    );
    // A sent post is never flushed again.
    m.reduce(Action::Tick, &env);
    m.take_effects();
    let Effect::Persist(sent) = &fx[1] else {
        unreachable!()
    };
    m.reduce(
        Action::Read(Ok(ReadOut {
            chain: None,
            outbox: Some(vec![sent.clone()]),
            sync_ok_at: 0,
        })),
        &env,
    );
    assert!(m.take_effects().is_empty());
    assert_eq!(m.pending().count(), 1);
}

#[test]
fn only_a_refused_post_can_be_discarded_and_a_refusal_asks_no_sync() {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: true,
        now_ms: 9_000,
    };
    let mut m = ChannelsModel::new();
    let queued = queue(&mut m, &env, "still queued");
    m.take_effects();
    // A queued post (it may yet reach the chain) is not discarded.
    assert!(!m.reduce(Action::Discard(queued.record_key()), &env));
    assert!(m.take_effects().is_empty());
    let refused = RelayError::Api {
        status: 400,
        code: "schema".into(),
        detail: "bad payload".into(),
    };
    m.reduce(Action::Flushed(vec![(queued.key(), Err(refused))]), &env);
    let fx = m.take_effects();
    assert!(
        matches!(&fx[..], [Effect::Persist(q)] if q.state == PostState::Failed),
        "refused: persisted as failed, no chain sync asked: {fx:?}"
    );
    assert!(m.reduce(Action::Discard(queued.record_key()), &env));
    assert_eq!(m.take_effects(), vec![Effect::Delete(queued.record_key())]);
    assert_eq!(m.pending().count(), 0);
    assert!(
        !m.reduce(Action::Discard(queued.record_key()), &env),
        "once"
    );
}

#[test]
fn a_rebased_post_is_matched_by_statement_not_event_id() {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: true,
        now_ms: 5_000,
    };
    let mut m = ChannelsModel::new();
    let p = queue(&mut m, &env, "survives a rebase");
    m.take_effects();
    let first = on_chain(&p, "aa", 1.0);
    m.reduce(Action::Flushed(vec![(p.key(), ok(&first))]), &env);
    let Some(Effect::Persist(sent)) = m.take_effects().pop() else {
        panic!("persisted")
    };
    // The relay re-linked it onto another head: new prev_hash and event id, same statement.
    let rebased = on_chain(&p, "bb", 2.0);
    assert_ne!(rebased.event_id, first.event_id);
    m.reduce(
        Action::Read(Ok(ReadOut {
            chain: Some(ChainRead::whole(
                2,
                rebased.event_id.clone(),
                vec![rebased.clone()],
            )),
            outbox: Some(vec![sent.clone()]),
            sync_ok_at: 0,
        })),
        &env,
    );
    assert_eq!(m.take_effects(), vec![Effect::Delete(sent.record_key())]);
    assert!(m.outbox.is_empty());
    let ch = m.board.channel(DEFAULT_CHANNEL).unwrap();
    assert_eq!(ch.posts.len(), 1);
    assert!(ch.posts[0].verified);
    assert_eq!(m.channel_list(), vec![(DEFAULT_CHANNEL.to_string(), 1)]);
    // The next post goes above the chain's sequence even with a clock behind it.
    let env = Env { now_ms: 1, ..env };
    let q = queue(&mut m, &env, "next");
    assert_eq!(q.sequence, p.sequence + 1);
}

#[test]
fn a_grown_chain_adds_only_its_new_events_and_a_full_read_replaces() {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: true,
        now_ms: 9_000,
    };
    let mut m = ChannelsModel::new();
    let a = queue(&mut m, &env, "first");
    let b = queue(&mut m, &env, "second");
    m.take_effects();
    let (ea, eb) = (on_chain(&a, "aa", 1.0), on_chain(&b, "bb", 2.0));
    let read = |chain| {
        Action::Read(Ok(ReadOut {
            chain: Some(chain),
            outbox: Some(Vec::new()),
            sync_ok_at: 0,
        }))
    };
    m.reduce(
        read(ChainRead::whole(1, ea.event_id.clone(), vec![ea.clone()])),
        &env,
    );
    let appended = ChainRead {
        after: Some((1, ea.event_id.clone())),
        count: 2,
        head: eb.event_id.clone(),
        events: vec![eb.clone()],
        more: false,
    };
    m.reduce(read(appended), &env);
    assert_eq!(m.board.channel(DEFAULT_CHANNEL).unwrap().posts.len(), 2);
    assert_eq!(m.chain, (2, eb.event_id.clone()));
    // A chain that did not grow on top of the board's (a fork heal): read whole again.
    m.reduce(
        read(ChainRead::whole(1, eb.event_id.clone(), vec![eb.clone()])),
        &env,
    );
    assert_eq!(m.board.channel(DEFAULT_CHANNEL).unwrap().posts.len(), 1);
}

#[test]
fn a_long_stored_chain_is_folded_page_by_page_and_rendered_now_and_then() {
    let me = Identity::generate(&mut OsRng);
    let mut env = Env {
        identity: &me,
        leader: true,
        now_ms: 10_000,
    };
    let mut m = ChannelsModel::new();
    let posts: Vec<QueuedPost> = (0..3)
        .map(|i| queue(&mut m, &env, &format!("p{i}")))
        .collect();
    m.take_effects();
    let mut prev = "aa".to_string();
    let events: Vec<ChainEvent> = posts
        .iter()
        .map(|p| {
            let e = on_chain(p, &prev, 1.0);
            prev = e.event_id.clone();
            e
        })
        .collect();
    let page = |i: usize, more: bool| {
        Action::Read(Ok(ReadOut {
            chain: Some(ChainRead {
                after: (i > 0).then(|| (i as u64, events[i - 1].event_id.clone())),
                count: i as u64 + 1,
                head: events[i].event_id.clone(),
                events: vec![events[i].clone()],
                more,
            }),
            // The outbox is read with the first page only.
            outbox: (i == 0).then(|| posts.clone()),
            sync_ok_at: 0,
        }))
    };
    m.reduce(Action::Tick, &env);
    assert_eq!(m.take_effects().len(), 1);
    assert!(m.reduce(page(0, true), &env), "the first page is shown");
    // The next page is asked for at once (a tick meanwhile asks nothing more); a post on a
    // page not read yet is not flushed.
    let next = Effect::Read {
        count: 1,
        head: events[0].event_id.clone(),
        outbox: false,
    };
    assert_eq!(
        m.take_effects(),
        vec![next, Effect::Delete(posts[0].record_key())]
    );
    m.reduce(Action::Tick, &env);
    assert!(m.take_effects().is_empty());
    env.now_ms += 1;
    assert!(!m.reduce(page(1, true), &env), "not rendered on every page");
    assert_eq!(m.board.channel(DEFAULT_CHANNEL).unwrap().posts.len(), 2);
    m.take_effects();
    assert!(m.reduce(page(2, false), &env), "rendered at the end");
    assert_eq!(m.board, group(events.iter().map(|e| (e, true))));
    assert_eq!(m.chain, (3, events[2].event_id.clone()));
    let fx = m.take_effects();
    assert!(!fx.iter().any(|f| matches!(f, Effect::Read { .. })));
    // All three posts are on the chain: each leaves the outbox, none is flushed.
    assert!(fx.iter().all(|f| matches!(f, Effect::Delete(_))));
    assert!(m.outbox.is_empty());
}

#[test]
fn a_queued_post_already_on_the_chain_is_not_sent_again() {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: true,
        now_ms: 9_000,
    };
    let mut m = ChannelsModel::new();
    let p = queue(&mut m, &env, "answer lost");
    m.take_effects();
    // The append went through but its answer was lost (relay stopped mid-reply).
    m.reduce(
        Action::Flushed(vec![(p.key(), Err(RelayError::Unreachable("x".into())))]),
        &env,
    );
    let e = on_chain(&p, "cc", 3.0);
    m.reduce(
        Action::Read(Ok(ReadOut {
            chain: Some(ChainRead::whole(1, e.event_id.clone(), vec![e])),
            outbox: Some(vec![p.clone()]),
            sync_ok_at: 0,
        })),
        &Env {
            now_ms: u64::MAX / 2,
            ..env
        },
    );
    assert_eq!(m.take_effects(), vec![Effect::Delete(p.record_key())]);
}

#[test]
fn followers_queue_only_and_refusals_are_final() {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: false,
        now_ms: 1,
    };
    let mut m = ChannelsModel::new();
    m.reduce(Action::Select("Other".into()), &env);
    let p = queue(&mut m, &env, "x");
    assert_eq!(p.channel, "Other");
    assert!(m.take_effects().is_empty(), "a follower tab never flushes");
    let leader = Env {
        leader: true,
        ..env
    };
    m.reduce(
        Action::Read(Ok(ReadOut {
            chain: None,
            outbox: Some(vec![p.clone()]),
            sync_ok_at: 0,
        })),
        &leader,
    );
    assert_eq!(m.take_effects().len(), 1);
    let refused = RelayError::Api {
        status: 409,
        code: "sequence_replay".into(),
        detail: "Replay".into(),
    };
    m.reduce(Action::Flushed(vec![(p.key(), Err(refused))]), &leader);
    assert!(matches!(&m.take_effects()[..], [Effect::Persist(q)] if q.state == PostState::Failed));
    m.reduce(Action::SetDraft(" ".into()), &leader);
    m.reduce(Action::Send, &leader);
    assert!(m.take_effects().is_empty());
    assert!(m.status.as_ref().is_some_and(|s| s.0));
    let names: Vec<String> = m.channel_list().into_iter().map(|c| c.0).collect();
    assert_eq!(names, vec!["LongFast".to_string(), "Other".to_string()]);
}

/// The board's cheap pre-parse test keeps every stored text of a board event type (core's
/// compact JSON, as the sync stores it, whatever the key order or spacing it came with) and
/// drops texts of other types.
#[test]
fn the_pre_parse_test_keeps_every_board_event_text() {
    let text = |event_type: &str, payload: &str| {
        let raw = format!(
            r#"{{ "payload" : {payload}, "event_type" : "{event_type}", "node_id": "!sb_1" }}"#
        );
        postern_core::json::parse(raw.as_bytes())
            .unwrap()
            .to_json_ordered()
    };
    use postern_core::channels::{REPORT_TYPE, VOTE_TYPE};
    let types = [MESSAGE_TYPE, VOTE_TYPE, REPORT_TYPE];
    assert_eq!(BOARD_TYPES_QUOTED.map(|q| q.trim_matches('"')), types);
    for t in types {
        assert!(may_be_board_event(&text(t, r#"{"x":1}"#)), "{t}");
    }
    for t in [
        "prediction",
        "dm_message",
        "gate_message",
        "messages",
        "key_rotate",
    ] {
        assert!(
            !may_be_board_event(&text(t, r#"{"message_count":2}"#)),
            "{t}"
        );
    }
    // A payload word may pass (the parse after it decides).
    assert!(may_be_board_event(&text("prediction", r#"{"m":"vote"}"#)));
}
