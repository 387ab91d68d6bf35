//! Public channels reducer: the board folded from the verified chain page by page (core
//! `channels::Board`, grown with `extend`) — each page this tab's sync stores as it is stored,
//! or read back from IndexedDB (after a reload, another tab's sync, a cut) —, the public-post outbox (queued, retried with the DM outbox's backoff, matched to the chain by
//! statement key — node, sequence, signature — never by event id), the selected channel and the
//! post form. Pure; `channels::effects` runs the I/O it asks for.
use postern_core::channels::{build_post, next_sequence, Board, DEFAULT_CHANNEL, MESSAGE_TYPE};
use postern_core::{ChainEvent, Identity, Statement};
use serde::{Deserialize, Serialize};

use super::delivery::{outbox_retry_delay_s, RelayError};

pub mod feed;
pub use feed::{may_be_board_event, BOARD_TYPES_QUOTED};

/// Where a queued public post is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostState {
    /// Waiting for the relay (retried with backoff).
    Queued,
    /// The relay stored it; it leaves the outbox once the synced chain holds its statement.
    Sent,
    /// Refused for good (shown with the reason, never retried).
    Failed,
}

impl PostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Queued => "queued",
            PostState::Sent => "sent",
            PostState::Failed => "failed",
        }
    }
}

/// One public post in the outbox (stored sealed in IndexedDB like every record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedPost {
    /// The signed append request's body (core's exact JSON), sent unchanged on every retry.
    pub body: String,
    pub node_id: String,
    pub sequence: u64,
    pub signature: String,
    pub channel: String,
    pub text: String,
    pub queued_ms: u64,
    pub state: PostState,
    #[serde(default)]
    pub error: Option<String>,
}

impl QueuedPost {
    /// The statement this post will be on the chain (the fork rule's key), whatever its id.
    pub fn key(&self) -> Statement {
        Statement {
            node_id: self.node_id.clone(),
            event_type: MESSAGE_TYPE.into(),
            sequence: i128::from(self.sequence),
            signature: self.signature.to_ascii_lowercase(),
        }
    }

    /// IndexedDB record key: the sequence, unique per author (all posts here are mine).
    pub fn record_key(&self) -> String {
        format!("{:020}", self.sequence)
    }
}

/// What the I/O layer read: the outbox, and the next stored page's public events when the
/// stored chain changed since `(count, head)` was last read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOut {
    pub chain: Option<ChainRead>,
    /// `None`: not read (the next page of a chain read: the outbox was read with the first).
    pub outbox: Option<Vec<QueuedPost>>,
    /// When the chain sync last reached the relay (UNIX seconds, 0: never). A newer success
    /// means the relay is back: queued posts are retried at once, whatever the backoff.
    pub sync_ok_at: u64,
}

/// One run of the stored chain for the board: the board events of its events up to `count`
/// (ending at `head`). `after`: they follow the stored chain's first `after.0` events, ending
/// at `after.1` — folded only onto a board holding exactly that (nothing before is read
/// again); `None`: they start at index 0 (a first read, or the chain was cut and rewritten:
/// the board starts over). `more`: the stored chain goes on past `count` (the reducer reads
/// the next page at once).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRead {
    pub after: Option<(u64, String)>,
    pub count: u64,
    pub head: String,
    pub events: Vec<ChainEvent>,
    pub more: bool,
}

impl ChainRead {
    /// The whole chain's public events in one read (tests).
    pub fn whole(count: u64, head: String, events: Vec<ChainEvent>) -> Self {
        ChainRead {
            after: None,
            count,
            head,
            events,
            more: false,
        }
    }
}

/// While the board reads a stored chain page after page, it is rendered at most this often
/// (each page is folded in as it comes; a render per page would cost the page thread more
/// than the fold).
pub const RENDER_EVERY_MS: u64 = 4_000;

/// What this tab's chain sync did to the stored chain, told after each commit (the board
/// follows it without reading IndexedDB again).
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// A verified page was stored: its board events ([`feed::page_read`]).
    Page(ChainRead),
    /// The stored chain was cut back to this many events (a fork heal; 0: dropped).
    Cut(u64),
}

pub enum Action {
    /// The 4 s tick: re-read the stored chain and outbox, retry what is due.
    Tick,
    Read(Result<ReadOut, String>),
    Stored(Stored),
    Select(String),
    SetDraft(String),
    SetNewChannel(String),
    OpenChannel,
    Send,
    /// A post composed here was stored in the outbox (or could not be).
    Queued(Result<Box<QueuedPost>, String>),
    /// One flush: each post's statement key and the relay's answer (`Ok`: stored, or already
    /// on the chain and answered as a duplicate).
    Flushed(Vec<(Statement, Result<(), RelayError>)>),
    /// Remove a post the relay refused for good (by record key) from the outbox.
    Discard(String),
}

/// I/O the reducer asks for; `Read`, `Queue` and `Flush` answer with an [`Action`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the outbox (unless `outbox` is false) and, if the stored chain is no longer
    /// `(count, head)`, its next page's events.
    Read {
        count: u64,
        head: String,
        outbox: bool,
    },
    /// Store a newly composed post (→ `Queued`).
    Queue(QueuedPost),
    /// Store a post's new state.
    Persist(QueuedPost),
    /// Remove a post from the outbox (by record key): its statement is on the chain.
    Delete(String),
    /// Append these posts, oldest first (→ `Flushed`).
    Flush(Vec<QueuedPost>),
    /// The relay stored a post: ask the chain sync to run now, so the post shows verified
    /// without waiting for the next scheduled round.
    SyncChain,
}

pub struct Env<'a> {
    pub identity: &'a Identity,
    /// Only the leader tab talks to the relay; the others queue and let it drain.
    pub leader: bool,
    pub now_ms: u64,
}

/// Status line under the post form: `(is_error, text)`.
pub type Status = (bool, String);

#[derive(Default, Clone)]
pub struct ChannelsModel {
    /// Grown page by page as the stored chain is read (core's fold: the same board as
    /// `channels::group` over the whole chain, without a rebuild over every event).
    pub board: Board,
    /// `(count, head)` of the stored chain the board was built from.
    pub chain: (u64, String),
    pub outbox: Vec<QueuedPost>,
    pub selected: String,
    pub draft: String,
    pub new_channel: String,
    pub status: Option<Status>,
    pub sending: bool,
    /// The relay answered the last flush (`Some(true)`), or was unreachable (`Some(false)`).
    pub online: Option<bool>,
    reading: bool,
    /// Bumped whenever the board follows the stored chain without a read (a stored page folded,
    /// a cut): a read asked before answers for a chain the board no longer holds.
    epoch: u64,
    /// The epoch the read in flight was asked in.
    read_epoch: u64,
    /// Something was stored that the board could not follow while a read was out: read again
    /// once it is back.
    behind: bool,
    /// When the board was last rendered while a chain read goes on (ms).
    rendered_ms: u64,
    sync_ok_at: u64,
    flushing: bool,
    failures: u64,
    next_retry_ms: u64,
    effects: Vec<Effect>,
}

/// A relay refusal that retrying the same signed request can never fix: a 4xx other than
/// rate limiting or a timeout (bad signature, sequence replay, schema, payload size…).
pub fn is_permanent_append_error(e: &RelayError) -> bool {
    matches!(e, RelayError::Api { status, .. } if (400..500).contains(status) && *status != 408 && *status != 429)
}

impl ChannelsModel {
    pub fn new() -> Self {
        ChannelsModel {
            selected: DEFAULT_CHANNEL.into(),
            ..Default::default()
        }
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Channel names with their on-chain post counts: every channel on the board, the default
    /// one, the selected one and those with queued posts; sorted by name.
    pub fn channel_list(&self) -> Vec<(String, usize)> {
        let mut names: Vec<String> = self.board.channels.iter().map(|c| c.name.clone()).collect();
        names.push(DEFAULT_CHANNEL.into());
        names.push(self.selected.clone());
        names.extend(self.outbox.iter().map(|p| p.channel.clone()));
        super::sort::sort(&mut names);
        names.dedup();
        names
            .into_iter()
            .filter(|n| !n.is_empty())
            .map(|n| {
                let count = self.board.channel(&n).map_or(0, |c| c.posts.len());
                (n, count)
            })
            .collect()
    }

    /// Outbox posts of the selected channel (none of them is on the synced chain yet).
    pub fn pending(&self) -> impl Iterator<Item = &QueuedPost> {
        self.outbox
            .iter()
            .filter(move |p| p.channel == self.selected)
    }

    pub fn reduce(&mut self, action: Action, env: &Env) -> bool {
        match action {
            Action::Tick => {
                if !self.reading {
                    self.ask_read(true);
                }
                false
            }
            Action::Stored(change) => self.on_stored(change, env),
            Action::Read(r) => {
                self.reading = false;
                match r {
                    Ok(out) => return self.on_read(out, env),
                    Err(e) => self.status = Some((true, format!("Could not read channels: {e}"))),
                }
                true
            }
            Action::Select(name) => {
                self.selected = name;
                true
            }
            Action::SetDraft(t) => {
                self.draft = t;
                false
            }
            Action::SetNewChannel(t) => {
                self.new_channel = t;
                false
            }
            Action::OpenChannel => {
                let name = self.new_channel.trim().to_string();
                if name.is_empty() {
                    return false;
                }
                self.selected = name;
                self.new_channel.clear();
                true
            }
            Action::Send => self.send(env),
            Action::Queued(Ok(post)) => {
                let post = *post;
                self.sending = false;
                self.draft.clear();
                self.status = Some((false, format!("Posting to {}…", post.channel)));
                if !self.outbox.iter().any(|p| p.key() == post.key()) {
                    self.outbox.push(post);
                }
                // A new post goes out at once, whatever the backoff.
                self.next_retry_ms = 0;
                self.maybe_flush(env);
                true
            }
            Action::Queued(Err(e)) => {
                self.sending = false;
                self.status = Some((true, format!("Could not queue the post: {e}")));
                true
            }
            Action::Flushed(results) => self.on_flushed(results, env),
            Action::Discard(key) => {
                // Only a refused post: a queued or sent one may still be (or become) on chain.
                let before = self.outbox.len();
                self.outbox
                    .retain(|p| !(p.state == PostState::Failed && p.record_key() == key));
                if self.outbox.len() == before {
                    return false;
                }
                self.effects.push(Effect::Delete(key));
                self.status = None;
                true
            }
        }
    }

    fn send(&mut self, env: &Env) -> bool {
        if self.sending {
            return false;
        }
        let me = env.identity.node_id();
        let last = self
            .outbox
            .iter()
            .map(|p| p.sequence)
            .chain(self.board.last_sequence.get(&me).copied())
            .max()
            .unwrap_or(0);
        let seq = next_sequence(last, env.now_ms);
        match build_post(env.identity, &self.selected, &self.draft, seq) {
            Ok(request) => {
                self.sending = true;
                self.effects.push(Effect::Queue(QueuedPost {
                    body: request.to_json(),
                    node_id: request.node_id,
                    sequence: request.sequence,
                    signature: request.signature,
                    channel: self.selected.trim().to_string(),
                    text: self.draft.clone(),
                    queued_ms: env.now_ms,
                    state: PostState::Queued,
                    error: None,
                }));
            }
            Err(e) => self.status = Some((true, format!("Cannot post: {e}."))),
        }
        true
    }

    fn ask_read(&mut self, outbox: bool) {
        self.reading = true;
        self.read_epoch = self.epoch;
        self.effects.push(Effect::Read {
            count: self.chain.0,
            head: self.chain.1.clone(),
            outbox,
        });
    }

    /// Fold a run of the stored chain into the board if it follows what the board holds (or
    /// starts over at 0); `false`: it does not fit, nothing changed.
    fn fold(&mut self, read: ChainRead) -> bool {
        match &read.after {
            None => self.board = Board::default(),
            Some(after) if *after == self.chain => {}
            Some(_) => return false,
        }
        self.board.extend(read.events.iter().map(|e| (e, true)));
        self.chain = (read.count, read.head);
        true
    }

    /// While the board catches up (pages read or stored one after another), it is rendered
    /// now and then; the next read renders it whole.
    fn render_now(&mut self, env: &Env) -> bool {
        let due = env.now_ms >= self.rendered_ms.saturating_add(RENDER_EVERY_MS);
        if due {
            self.rendered_ms = env.now_ms;
        }
        due
    }

    /// This tab's sync stored a page or cut the stored chain: follow it without a read when
    /// the page continues the board, else read storage (now, or once the read out is back).
    fn on_stored(&mut self, change: Stored, env: &Env) -> bool {
        self.epoch += 1;
        let follow = match change {
            Stored::Page(read) => self.fold(read),
            Stored::Cut(count) => {
                if count < self.chain.0 {
                    self.board = Board::default();
                    self.chain = (0, String::new());
                    false
                } else {
                    // Nothing the board holds was cut; a read out may have seen what was.
                    true
                }
            }
        };
        if !follow {
            if self.reading {
                self.behind = true;
            } else {
                self.ask_read(false);
            }
        }
        self.settle_on_chain();
        self.render_now(env)
    }

    /// Fold what was read into the board; `true`: render.
    fn on_read(&mut self, out: ReadOut, env: &Env) -> bool {
        let mut render = true;
        let mut more = false;
        if let Some(read) = out.chain {
            // Asked for a chain the board has since left (it followed a stored page or a
            // cut meanwhile): dropped, and read again.
            let next = read.more;
            if self.read_epoch == self.epoch && self.fold(read) {
                more = next;
            } else {
                self.behind = true;
            }
        }
        let again = std::mem::take(&mut self.behind);
        if more || again {
            // The next page at once (one page record per read: bounded tasks), rendered now
            // and then, and at the end.
            self.ask_read(false);
            render = self.render_now(env);
        } else {
            self.rendered_ms = env.now_ms;
        }
        if out.sync_ok_at > self.sync_ok_at {
            self.sync_ok_at = out.sync_ok_at;
            self.next_retry_ms = 0;
        }
        // IndexedDB is the truth for the outbox (other tabs queue into it too); a post whose
        // statement is on the chain — under whatever event id — leaves it.
        if let Some(outbox) = out.outbox {
            self.outbox = outbox;
        }
        self.settle_on_chain();
        // A queued post may be on a page not read yet: flushed once the board is whole.
        if !self.reading {
            self.maybe_flush(env);
        }
        render
    }

    fn settle_on_chain(&mut self) {
        let board = &self.board;
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|p| board.contains(&p.key()));
        self.outbox = keep;
        for p in done {
            self.effects.push(Effect::Delete(p.record_key()));
        }
    }

    fn maybe_flush(&mut self, env: &Env) {
        if !env.leader || self.flushing || env.now_ms < self.next_retry_ms {
            return;
        }
        let batch: Vec<QueuedPost> = self
            .outbox
            .iter()
            .filter(|p| p.state == PostState::Queued)
            .cloned()
            .collect();
        if batch.is_empty() {
            return;
        }
        self.flushing = true;
        self.effects.push(Effect::Flush(batch));
    }

    fn on_flushed(&mut self, results: Vec<(Statement, Result<(), RelayError>)>, env: &Env) -> bool {
        self.flushing = false;
        let mut retry = false;
        if results.iter().any(|(_, r)| r.is_ok()) {
            self.effects.push(Effect::SyncChain);
        }
        for (key, result) in results {
            let Some(p) = self.outbox.iter_mut().find(|p| p.key() == key) else {
                continue;
            };
            match result {
                Ok(_) => {
                    // Stored by the relay (or already there: a retry is answered as a
                    // duplicate). Its event id may still change if the relay re-links it.
                    self.online = Some(true);
                    p.state = PostState::Sent;
                    p.error = None;
                    self.status = Some((false, format!("Posted to {}.", p.channel)));
                }
                Err(e) if e.is_unreachable() => {
                    self.online = Some(false);
                    retry = true;
                    self.status = Some((
                        false,
                        "The relay is unreachable: the post is queued and sent when it is back."
                            .into(),
                    ));
                    continue;
                }
                Err(e) if is_permanent_append_error(&e) => {
                    self.online = Some(true);
                    p.state = PostState::Failed;
                    p.error = Some(e.to_string());
                    self.status = Some((true, format!("The relay refused the post: {e}.")));
                }
                Err(e) => {
                    self.online = Some(true);
                    retry = true;
                    p.error = Some(e.to_string());
                    self.status = Some((true, format!("{e}. The post stays queued.")));
                }
            }
            let p = p.clone();
            self.effects.push(Effect::Persist(p));
        }
        if retry {
            self.failures += 1;
            self.next_retry_ms = env.now_ms + 1000 * outbox_retry_delay_s(self.failures, 0);
        } else {
            self.failures = 0;
            self.next_retry_ms = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests;
