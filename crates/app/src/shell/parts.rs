//! What the page is drawn from (`Parts`, borrowed from the root component) and the link
//! click helper shared by the header and the sidebar.
use std::collections::HashMap;

use postern_core::Identity;
use yew::prelude::*;

use crate::dm::{self, DmState};
use crate::gates::{self, GatesState};
use crate::model::route::Route;
use crate::session::Session;
use crate::sync::SyncSummary;

/// Everything the page is drawn from (borrowed from the root component).
pub struct Parts<'a> {
    pub dm: &'a DmState,
    pub gates: &'a GatesState,
    pub route: &'a Route,
    pub drawer_open: bool,
    pub gate_seen: &'a HashMap<String, usize>,
    pub identity: Option<&'a Identity>,
    pub session: Option<&'a Session>,
    pub messages_ref: &'a NodeRef,
    pub dm_dispatch: Callback<dm::Action>,
    pub gate_dispatch: Callback<gates::Action>,
    pub go: Callback<Route>,
    pub toggle_drawer: Callback<()>,
    pub sync: Option<&'a SyncSummary>,
    pub on_sync: Callback<SyncSummary>,
}

/// A link's click: show `route` now (the browser then updates the fragment and history).
/// Modified clicks (new tab/window) are left to the browser.
pub fn link(go: &Callback<Route>, route: Route) -> Callback<MouseEvent> {
    let go = go.clone();
    Callback::from(move |e: MouseEvent| {
        if !(e.ctrl_key() || e.meta_key() || e.shift_key() || e.button() != 0) {
            go.emit(route.clone());
        }
    })
}
