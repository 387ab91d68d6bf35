//! The channels panel: channel list with post counts, the selected channel's timeline (author,
//! time, verified mark, votes and reports; queued posts below with their state) and the post
//! form. Stable ids for the e2e suite: `#channels`, `[data-channel]`, `[data-channel-post]`
//! (`data-verified`, `data-state`), `#channel-post-text`, `#channel-post-send`.
use postern_core::channels::{ChannelPost, Notes};
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::model::channels::{Action, ChannelsModel, QueuedPost};
use crate::platform::clock::{format_time, iso_time};

/// Posts of the selected channel rendered (the newest).
const POSTS_SHOWN: usize = 200;

fn short(node: &str) -> &str {
    node.get(..16).unwrap_or(node)
}

fn notes(n: &Notes, what: &str) -> Html {
    if n.votes.up == 0 && n.votes.down == 0 && n.reports.is_empty() {
        return html! {};
    }
    let reasons: Vec<&str> = n.reports.iter().map(|r| r.reason.as_str()).collect();
    html! {
        <span class="post-notes muted small" data-up={n.votes.up.to_string()}
            data-down={n.votes.down.to_string()} data-reports={n.reports.len().to_string()}>
            { format!("{what}: ▲ {} ▼ {}", n.votes.up, n.votes.down) }
            if !reasons.is_empty() {
                <span title={reasons.join("; ")}>{ format!(" · ⚑ {} report(s)", reasons.len()) }</span>
            }
        </span>
    }
}

fn chain_post(p: &ChannelPost, me: &str, author: Option<&Notes>) -> Html {
    let secs = p.timestamp.max(0.0) as u64;
    let who = if p.node_id == me {
        "you".to_string()
    } else {
        short(&p.node_id).to_string()
    };
    html! {
        <li class="channel-post" data-channel-post="" data-state="on_chain"
            data-verified={p.verified.to_string()} data-event-id={p.event_id.clone()}
            data-author={p.node_id.clone()} data-sequence={p.key.sequence.to_string()}>
            <div class="post-meta small">
                <span class="post-author" title={p.node_id.clone()}>{ who }</span>
                { " · " }
                <time datetime={iso_time(secs)}>{ format_time(secs) }</time>
                if p.verified {
                    <span class="verified" title="Signature and chain link verified in this browser">{ " ✓ verified" }</span>
                }
            </div>
            <p class="post-text">{ &p.text }</p>
            { notes(&p.notes, "post") }
            { author.map(|n| notes(n, "author")).unwrap_or_default() }
        </li>
    }
}

fn pending_post(p: &QueuedPost, dispatch: &Callback<Action>) -> Html {
    let label = match p.state.as_str() {
        "sent" => "sent, waiting for the next chain sync",
        "failed" => "refused",
        _ => "queued",
    };
    html! {
        <li class="channel-post pending" data-channel-post="" data-state={p.state.as_str()}
            data-verified="false" data-sequence={p.sequence.to_string()}>
            <div class="post-meta small">
                <span class="post-author">{ "you" }</span>{ " · " }
                <span class="delivery muted">{ label }</span>
            </div>
            <p class="post-text">{ &p.text }</p>
            if let Some(e) = &p.error {
                <p class="post-error small">{ e }</p>
            }
            if p.state.as_str() == "failed" {
                <button type="button" class="btn btn-small channel-discard"
                    onclick={dispatch.reform({ let key = p.record_key(); move |_| Action::Discard(key.clone()) })}>
                    { "Discard" }<span class="visually-hidden">{ " this refused post" }</span>
                </button>
            }
        </li>
    }
}

pub fn panel(s: &ChannelsModel, me: &str, dispatch: &Callback<Action>) -> Html {
    let selected = s.selected.clone();
    let channel = s.board.channel(&selected);
    // Only the newest posts: a long chain can hold thousands, each re-rendered with its time.
    let posts = channel.map(|c| c.posts.as_slice()).unwrap_or_default();
    let older = posts.len().saturating_sub(POSTS_SHOWN);
    let shown = &posts[older..];
    html! {
        <section id="channels" class="card channels" aria-labelledby="channels-h">
            <h2 id="channels-h">{ "Public channels" }</h2>
            <p class="muted small">{ "Public posts on the Infonet chain: anyone can read them. Posts are shown once this browser has synced and verified the chain." }</p>
            <div class="channels-layout">
                <nav aria-label="Channels" class="channel-nav">
                    <ul id="channel-list" class="channel-list">
                        { for s.channel_list().into_iter().map(|(name, count)| {
                            let current = name == selected;
                            let pick = name.clone();
                            html! {
                                <li>
                                    <button type="button" class={classes!("channel-item", current.then_some("active"))}
                                        data-channel={name.clone()} data-count={count.to_string()}
                                        aria-current={current.then_some("true")}
                                        onclick={dispatch.reform(move |_| Action::Select(pick.clone()))}>
                                        { format!("#{name}") }<span class="badge">{ count }</span>
                                    </button>
                                </li>
                            }
                        }) }
                    </ul>
                    <form class="channel-open" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::OpenChannel })}>
                        <label for="channel-new" class="small">{ "Open a channel" }</label>
                        <input id="channel-new" placeholder="channel name" value={s.new_channel.clone()}
                            oninput={dispatch.reform(|e: InputEvent| Action::SetNewChannel(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                        <button id="channel-open" type="submit" class="btn">{ "Open" }</button>
                    </form>
                </nav>
                <div class="channel-timeline" id="channel-timeline" data-selected={selected.clone()}>
                    <h3>{ format!("#{selected}") }</h3>
                    if older > 0 {
                        <p id="channel-older" class="muted small" data-older={older.to_string()}>
                            { format!("The newest {} posts; {older} older ones are not shown.", shown.len()) }</p>
                    }
                    <ol class="channel-posts" aria-live="polite">
                        { for shown.iter().map(|p| chain_post(p, me, s.board.authors.get(&p.node_id))) }
                        { for s.pending().map(|p| pending_post(p, dispatch)) }
                    </ol>
                    if channel.is_none() && s.pending().next().is_none() {
                        <p class="muted small" id="channel-empty">{ "No posts on this channel yet." }</p>
                    }
                    <form class="compose" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Send })}>
                        <label for="channel-post-text">{ format!("Post publicly to #{selected}") }</label>
                        <textarea id="channel-post-text" rows="2" maxlength="200" placeholder="Anyone can read this" value={s.draft.clone()}
                            oninput={dispatch.reform(|e: InputEvent| Action::SetDraft(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                        <button id="channel-post-send" type="submit" class="btn btn-primary" disabled={s.sending}>{ "Post" }</button>
                    </form>
                    if let Some((err, text)) = &s.status {
                        <p id="channel-post-status" class={classes!("small", err.then_some("error"))} role="status"
                            data-error={err.to_string()}>{ text }</p>
                    }
                </div>
            </div>
        </section>
    }
}
