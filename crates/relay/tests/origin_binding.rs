//! Signed client requests are bound to the relay they were signed for (issue 14 item 10),
//! against the real `postern` binary: a request one relay received cannot be replayed to
//! another, and unbound (v1) requests are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{now, Relay};
use postern_core::api::dm::{poll_params, PollRequest, PATH_POLL};
use postern_core::auth::{sign_request, sign_request_for, Action};
use postern_core::Identity;
use rand_core::OsRng;

fn start(extra: &[&str]) -> (Relay, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Relay::start(data.path(), extra), data)
}

#[test]
fn a_request_signed_for_one_relay_is_refused_by_another() {
    let (a, _da) = start(&[]);
    let (b, _db) = start(&[]);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(a.register(&bob).status, 200);
    assert_eq!(b.register(&bob).status, 200);
    // Relay A captures Bob's poll and replays it to relay B within the window.
    let captured = PollRequest {
        auth: a.poll_auth(&bob, 10, now()),
        limit: 10,
    };
    assert_eq!(a.post(PATH_POLL, &captured).status, 200);
    let r = b.post(PATH_POLL, &captured);
    r.assert_error(401, "unauthorized");
    assert!(r.body.contains("another relay"), "{}", r.body);
    // A request without an origin (v1) is refused too.
    let v1 = PollRequest {
        auth: sign_request(&bob, Action::DmPoll, &poll_params(10), now(), &mut OsRng),
        limit: 10,
    };
    b.post(PATH_POLL, &v1).assert_error(401, "unauthorized");
    // Signed for B itself, it works; the origin is normalised (case, trailing slash).
    let upper = format!("{}/", b.base.replace("http://", "HTTP://"));
    let own = PollRequest {
        auth: sign_request_for(
            &bob,
            &upper,
            Action::DmPoll,
            &poll_params(10),
            now(),
            &mut OsRng,
        ),
        limit: 10,
    };
    assert_eq!(b.post(PATH_POLL, &own).status, 200);
}

#[test]
fn with_a_public_url_only_that_origin_is_accepted() {
    let public = "https://relay.example";
    let (relay, _d) = start(&[&format!("--public-url={public}")]);
    let bob = Identity::generate(&mut OsRng);
    let signed_for = |origin: &str| PollRequest {
        auth: sign_request_for(
            &bob,
            origin,
            Action::DmPoll,
            &poll_params(10),
            now(),
            &mut OsRng,
        ),
        limit: 10,
    };
    // The address the test reached it at is not its public origin.
    relay
        .post(PATH_POLL, &signed_for(&relay.base))
        .assert_error(401, "unauthorized");
    // Its public URL is (the node need not be registered to poll an empty mailbox).
    let r = relay.post(PATH_POLL, &signed_for(public));
    assert_eq!(r.status, 200, "{}", r.body);
}
