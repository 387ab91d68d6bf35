//! A verification unit of the chain sync: up to two relay pages verified together, so each
//! worker's strict signature batch holds a whole page (≥ `SUBSET_CHECK_MIN` signatures: the
//! `R`s get core's cheap subset-sum check, not one multiplication by ℓ each).
//!
//! Page A is fetched after the verified head and held by the verifier; page B is fetched after
//! A's last `event_id` *as the relay sent it* while the verifier checks A's signatures, then held
//! after A while the second worker checks B's; the verifier then applies the sequential rules to
//! A and B in order (`Op::Finish`). Nothing is accepted, stored or counted before that, so a relay
//! that lies about A's last id gains nothing: either A's last event fails (refused there, as page
//! by page) or B does not link to it (refused at B's first event). When B cannot be verified with
//! A (its fetch fails, it does not read, or it says `unknown_after_hash`), A is finished alone and
//! B is answered as the next page on its own, exactly as page-by-page verification would.
//! Without a second worker the verifier checks B itself. The I/O is the [`UnitIo`] trait:
//! the browser's fetch and workers (`sync::round`), or plain verifiers in the native tests.
use futures_util::future::join;

use super::{FromWorker, ToWorker, PAGE_LIMIT};

/// What a unit needs from its surroundings.
#[allow(async_fn_in_trait)] // used within this crate only, on one thread
pub trait UnitIo {
    /// A raw `/sync` page body.
    type Body: Clone;
    type Err;
    /// `GET /sync?after_hash=<after>&limit=PAGE_LIMIT`.
    async fn fetch(&self, after: &str) -> Result<Self::Body, Self::Err>;
    /// A request to the verifier (with a page body beside it).
    async fn verifier(
        &self,
        req: ToWorker,
        body: Option<Self::Body>,
    ) -> Result<FromWorker, Self::Err>;
    /// A stateless `Crypto` request to the second worker; `None` when it cannot run or failed
    /// (then the verifier checks those events itself).
    async fn helper(&self, req: ToWorker, body: Self::Body) -> Option<FromWorker>;
    fn next_id(&self) -> u32;
}

/// A unit's outcome.
#[derive(Debug)]
pub struct Unit<E> {
    /// The verifier's answer for the unit's pages (accepted events of A, or of A then B).
    pub answer: FromWorker,
    /// Page B when it was fetched but not verified with A, and A was wholly accepted: the
    /// verifier's answer to it as a page of its own (`Op::Page`, after A), or its fetch error.
    pub next: Option<Result<FromWorker, E>>,
    /// Events in the last page read (fewer than `PAGE_LIMIT`: the relay's chain ends there).
    pub last_received: u64,
}

/// A full page whose last id can be asked after (64 hex digits: it goes into the next URL).
fn pairs(page: &FromWorker) -> bool {
    page.received as usize >= PAGE_LIMIT
        && page.last.len() == 64
        && page.last.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The held events finished without another worker (the rest checked by the verifier), with
/// `busy` ms of the unit's earlier steps added.
async fn finish_alone<I: UnitIo>(io: &I, busy: f64) -> Result<FromWorker, I::Err> {
    let mut answer = io
        .verifier(ToWorker::finish_here(io.next_id()), None)
        .await?;
    answer.busy_ms += busy;
    Ok(answer)
}

/// Verify the next one or two pages after `after` (the verified head; empty = genesis).
pub async fn verify_unit<I: UnitIo>(io: &I, after: &str, now: u64) -> Result<Unit<I::Err>, I::Err> {
    let a = io.fetch(after).await?;
    let held = io
        .verifier(
            ToWorker::hold(io.next_id(), String::new(), now, false),
            Some(a),
        )
        .await?;
    let a_len = held.received;
    if held.error.is_some() || held.unknown_after_hash {
        // Unreadable, or a resync: answered as the page alone (the verifier held nothing).
        return Ok(Unit {
            answer: held,
            next: None,
            last_received: a_len,
        });
    }
    if !pairs(&held) {
        // The relay's last page (or a last id not worth asking after: A alone, and the next
        // unit starts from the verified head as page by page).
        let answer = finish_alone(io, held.busy_ms).await?;
        return Ok(Unit {
            answer,
            next: None,
            last_received: a_len,
        });
    }
    let check_a = io.verifier(ToWorker::check(io.next_id(), a_len), None);
    let second = async {
        let b = io.fetch(&held.last).await?;
        let hold_b = io.verifier(
            ToWorker::hold(io.next_id(), String::new(), now, true),
            Some(b.clone()),
        );
        let crypto_b = io.helper(ToWorker::crypto(io.next_id(), String::new(), 0), b.clone());
        let (held_b, crypto_b) = join(hold_b, crypto_b).await;
        Ok((b, held_b, crypto_b))
    };
    let (checked, second) = join(check_a, second).await;
    let mut busy = held.busy_ms + checked?.busy_ms;
    let (b, held_b, crypto_b) = match second {
        Ok((b, held_b, crypto_b)) => (b, held_b?, crypto_b),
        Err(e) => {
            // B's fetch failed: A alone; the error comes after A is stored.
            let answer = finish_alone(io, busy).await?;
            let next = answer.error.is_none().then_some(Err(e));
            return Ok(Unit {
                answer,
                next,
                last_received: a_len,
            });
        }
    };
    busy += held_b.busy_ms;
    if held_b.error.is_some() || held_b.unknown_after_hash {
        // B is not part of the unit (an unreadable page holds nothing; an `unknown_after_hash`
        // page holds no events, even a hostile one carrying some): A, then B answered on its own.
        let answer = finish_alone(io, busy).await?;
        let mut next = None;
        if answer.error.is_none() {
            let page = ToWorker::page(io.next_id(), String::new(), now);
            next = Some(Ok(io.verifier(page, Some(b)).await?));
        }
        return Ok(Unit {
            answer,
            next,
            last_received: held_b.received,
        });
    }
    let finish = match crypto_b {
        Some(c) if c.error.is_none() && c.received == held_b.received => {
            busy += c.busy_ms;
            let at = |(i, r)| (u64::saturating_add(i, a_len), r);
            ToWorker::finish(io.next_id(), c.crypto.map(at))
        }
        // No second worker (or it failed): the verifier checks B too.
        _ => ToWorker::finish_here(io.next_id()),
    };
    let mut answer = io.verifier(finish, None).await?;
    answer.busy_ms += busy;
    Ok(Unit {
        answer,
        next: None,
        last_received: held_b.received,
    })
}

#[cfg(test)]
#[path = "unit_tests.rs"]
mod tests;
