//! Event explorer: the synced chain filtered by event type and node id; a click shows the
//! event's canonical fields, its recomputed hash and its signature status.
use std::rc::Rc;

use postern_core::event::ChainEvent;
use postern_core::json;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::model::chain::{event_key, matches_filter, EventSummary};
use crate::platform::idb::Storage;

/// Rows shown per "show more".
pub const ROWS: usize = 100;

/// The accepted events, one shared chunk per verifier answer (appending a page copies only
/// the list of chunks, never the summaries; props compare by pointer).
#[derive(Clone, Default)]
pub struct Events(pub Rc<Vec<Rc<Vec<EventSummary>>>>);

impl Events {
    /// These events plus one more chunk.
    pub fn with(&self, chunk: Vec<EventSummary>) -> Events {
        let mut chunks = (*self.0).clone();
        chunks.push(Rc::new(chunk));
        Events(Rc::new(chunks))
    }

    pub fn iter(&self) -> impl Iterator<Item = &EventSummary> {
        self.0.iter().flat_map(|c| c.iter())
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|c| c.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Events {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
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

/// The detail of one event, read back from IndexedDB.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub summary: EventSummary,
    /// (field, value) in canonical order.
    pub fields: Vec<(&'static str, String)>,
    /// The recomputed event id equals the stored one.
    pub hash_ok: bool,
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

/// Read one stored event and describe it.
pub fn describe(summary: EventSummary, text: &str) -> Result<Detail, String> {
    let v = json::parse(text.as_bytes()).map_err(|e| e.to_string())?;
    let e = ChainEvent::from_value(&v).map_err(|e| e.to_string())?;
    let hash_ok = e.computed_event_id() == e.event_id;
    let fields = vec![
        ("event_id", e.event_id.clone()),
        ("prev_hash", e.prev_hash.clone()),
        ("event_type", e.event_type.clone()),
        ("node_id", e.node_id.clone()),
        ("sequence", e.sequence_value().to_string()),
        ("timestamp", e.timestamp.to_json_ordered()),
        ("network_id", e.network_id.clone()),
        ("protocol_version", e.protocol_version.clone()),
        ("public_key_algo", e.public_key_algo.clone()),
        ("public_key", e.public_key.clone()),
        ("signature", e.signature.clone()),
        ("payload", e.payload.to_canonical()),
    ];
    Ok(Detail {
        summary,
        fields,
        hash_ok,
    })
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
                ctx.link().send_future(async move {
                    let r = match storage.event_text(&event_key(s.index)).await {
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
        let mut types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        let matching: Vec<&EventSummary> = events
            .iter()
            .filter(|e| matches_filter(e, &self.event_type, &self.node))
            .collect();
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
                                <option value={t.to_string()} selected={self.event_type == *t}>{ *t }</option>
                            }) }
                        </select>
                    </label>
                    <label>{ " Node id " }
                        <input id="sync-filter-node" type="search" placeholder="contains…" value={self.node.clone()}
                            oninput={link.callback(|e: InputEvent| Msg::SetNode(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    </label>
                </div>
                <p id="sync-match-count" data-count={matching.len().to_string()}>
                    { format!("{} of {} events match", matching.len(), events.len()) }</p>
                <ol id="sync-events" class="sync-events">
                    { for matching.iter().take(self.shown).map(|e| {
                        let s = (*e).clone();
                        html! {
                            <li class="sync-event" data-index={e.index.to_string()} data-type={e.event_type.clone()}
                                data-node={e.node_id.clone()}>
                                <button type="button" class="linkish" onclick={link.callback(move |_| Msg::Select(s.clone()))}>
                                    { format!("#{} {} · {} · seq {}", e.index, e.event_type, crate::model::chain::short(&e.node_id), e.sequence) }
                                </button>
                            </li>
                        }
                    }) }
                </ol>
                if matching.len() > self.shown {
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
            Some(Ok(d)) => html! {
                <div id="sync-event-detail" class="sync-detail" data-state="ok"
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
