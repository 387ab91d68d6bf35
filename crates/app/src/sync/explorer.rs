//! Event explorer: the synced chain filtered by event type and node id; a click shows the
//! event's canonical fields, its recomputed hash and its signature status, or for a private
//! event a sealed entry (its stub's fields; the payload is never held or shown).
use std::rc::Rc;

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::model::chain::{matches_filter, EventSummary};
pub use crate::model::explore::{describe, Detail};
use crate::platform::idb::Storage;

/// Rows shown per "show more".
pub const ROWS: usize = 100;

/// The accepted events, one shared chunk per verifier answer (appending a page copies only
/// the list of chunks, never the summaries; props compare by pointer), with their distinct
/// types kept as chunks arrive, so a render during a long sync never scans every event.
#[derive(Clone, Default)]
pub struct Events {
    chunks: Rc<Vec<Rc<Vec<EventSummary>>>>,
    /// Distinct event types, sorted.
    types: Rc<Vec<String>>,
    len: usize,
}

impl Events {
    /// These events plus one more chunk.
    pub fn with(&self, chunk: Vec<EventSummary>) -> Events {
        let mut types = Rc::clone(&self.types);
        for e in &chunk {
            if let Err(at) = types.binary_search(&e.event_type) {
                Rc::make_mut(&mut types).insert(at, e.event_type.clone());
            }
        }
        let mut chunks = (*self.chunks).clone();
        let len = self.len + chunk.len();
        chunks.push(Rc::new(chunk));
        Events {
            chunks: Rc::new(chunks),
            types,
            len,
        }
    }

    /// One chunk (of earlier events) plus these events, in chain order.
    pub fn before(&self, chunk: Vec<EventSummary>) -> Events {
        let front = Events::default().with(chunk);
        let mut types = front.types;
        for t in self.types.iter() {
            if let Err(at) = types.binary_search(t) {
                Rc::make_mut(&mut types).insert(at, t.clone());
            }
        }
        let mut chunks = (*front.chunks).clone();
        chunks.extend(self.chunks.iter().cloned());
        Events {
            chunks: Rc::new(chunks),
            types,
            len: front.len + self.len,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &EventSummary> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The distinct event types, sorted.
    pub fn types(&self) -> &[String] {
        &self.types
    }
}

impl PartialEq for Events {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.chunks, &other.chunks)
    }
}

#[derive(Properties)]
pub struct Props {
    pub storage: Rc<Storage>,
    pub events: Events,
}

impl PartialEq for Props {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.storage, &o.storage) && self.events == o.events
    }
}

pub enum Msg {
    SetType(String),
    SetNode(String),
    More,
    Select(EventSummary),
    Loaded(Result<Detail, String>),
}

pub struct Explorer {
    event_type: String,
    node: String,
    shown: usize,
    detail: Option<Result<Detail, String>>,
}

impl Component for Explorer {
    type Message = Msg;
    type Properties = Props;

    fn create(_ctx: &Context<Self>) -> Self {
        Explorer {
            event_type: String::new(),
            node: String::new(),
            shown: ROWS,
            detail: None,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::SetType(t) => {
                self.event_type = t;
                self.shown = ROWS;
            }
            Msg::SetNode(n) => {
                self.node = n;
                self.shown = ROWS;
            }
            Msg::More => self.shown += ROWS,
            Msg::Select(s) => {
                let storage = ctx.props().storage.clone();
                crate::task::send(ctx.link(), async move {
                    let r = match storage.event_text(s.index).await {
                        Ok(Some(text)) => describe(s, &text),
                        Ok(None) => Err("not stored".to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    Msg::Loaded(r)
                });
            }
            Msg::Loaded(r) => self.detail = Some(r),
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let events = &ctx.props().events;
        let types = events.types();
        // Unfiltered (the usual case while a chain syncs), a render touches only the rows
        // shown; a filter scans the events once.
        let (count, rows): (usize, Vec<&EventSummary>) =
            if self.event_type.is_empty() && self.node.trim().is_empty() {
                (events.len(), events.iter().take(self.shown).collect())
            } else {
                let mut count = 0;
                let mut rows = Vec::new();
                for e in events
                    .iter()
                    .filter(|e| matches_filter(e, &self.event_type, &self.node))
                {
                    count += 1;
                    if rows.len() < self.shown {
                        rows.push(e);
                    }
                }
                (count, rows)
            };
        let link = ctx.link();
        html! {
            <div class="sync-explorer">
                <h3>{ "Event explorer" }</h3>
                <div class="sync-filters">
                    <label>{ "Type " }
                        <select id="sync-filter-type"
                            onchange={link.callback(|e: Event| Msg::SetType(e.target_unchecked_into::<HtmlSelectElement>().value()))}>
                            <option value="" selected={self.event_type.is_empty()}>{ "all types" }</option>
                            { for types.iter().map(|t| html! {
                                <option value={t.clone()} selected={self.event_type == *t}>{ t }</option>
                            }) }
                        </select>
                    </label>
                    <label>{ " Node id " }
                        <input id="sync-filter-node" type="search" placeholder="contains…" value={self.node.clone()}
                            oninput={link.callback(|e: InputEvent| Msg::SetNode(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    </label>
                </div>
                <p id="sync-match-count" data-count={count.to_string()}>
                    { format!("{} of {} events match", count, events.len()) }</p>
                <ol id="sync-events" class="sync-events">
                    { for rows.iter().map(|e| {
                        let s = (*e).clone();
                        html! {
                            <li class={classes!("sync-event", e.sealed.then_some("sealed"))} data-index={e.index.to_string()}
                                data-type={e.event_type.clone()} data-node={e.node_id.clone()} data-sealed={e.sealed.to_string()}>
                                <button type="button" class="linkish" onclick={link.callback(move |_| Msg::Select(s.clone()))}>
                                    { format!("#{} {}{} · {} · seq {}", e.index, e.event_type, if e.sealed { " (sealed)" } else { "" },
                                        crate::model::chain::short(&e.node_id), e.sequence) }
                                </button>
                            </li>
                        }
                    }) }
                </ol>
                if count > self.shown {
                    <button id="sync-more" type="button" class="btn" onclick={link.callback(|_| Msg::More)}>{ "Show more" }</button>
                }
                { self.view_detail() }
            </div>
        }
    }
}

impl Explorer {
    fn view_detail(&self) -> Html {
        match &self.detail {
            None => html! {},
            Some(Err(e)) => {
                html! { <p id="sync-event-detail" class="error" data-state="error">{ e }</p> }
            }
            Some(Ok(d)) if d.sealed => html! {
                <div id="sync-event-detail" class="sync-detail sealed" data-state="ok" data-sealed="true"
                    data-index={d.summary.index.to_string()} data-event-id={d.summary.event_id.clone()}
                    data-hash="sealed" data-signature="not-served">
                    <h4>{ format!("Event #{} ({}, sealed)", d.summary.index, d.summary.event_type) }</h4>
                    <p class="sync-detail-status">
                        { "Sealed private event: the relay serves public readers only its redaction stub. Its link to the \
                           previous event, its sequence and its place in the Merkle root are verified; its payload, \
                           signature and key are not served, so its hash and signature cannot be checked here." }
                    </p>
                    <dl>
                        { for d.fields.iter().map(|(k, v)| html! {
                            <>
                                <dt>{ *k }</dt>
                                <dd><code data-field={*k}>{ v.clone() }</code></dd>
                            </>
                        }) }
                    </dl>
                </div>
            },
            Some(Ok(d)) => html! {
                <div id="sync-event-detail" class="sync-detail" data-state="ok" data-sealed="false"
                    data-index={d.summary.index.to_string()} data-event-id={d.summary.event_id.clone()}
                    data-hash={if d.hash_ok { "match" } else { "mismatch" }} data-signature="valid">
                    <h4>{ format!("Event #{} ({})", d.summary.index, d.summary.event_type) }</h4>
                    <p class="sync-detail-status">
                        { if d.hash_ok { "Hash ✓ (event id recomputed from the canonical fields). " } else { "Hash ✗: event id does not match its fields. " } }
                        { "Signature ✓, link to the previous event ✓ (verified in chain order by the worker)." }
                    </p>
                    <dl>
                        { for d.fields.iter().map(|(k, v)| html! {
                            <>
                                <dt>{ *k }</dt>
                                <dd><code data-field={*k}>{ v.clone() }</code></dd>
                            </>
                        }) }
                    </dl>
                </div>
            },
        }
    }
}
