//! The app's views as URL fragments (`#/…`): parse and print. A hash router works from the
//! service worker's cache and the relay's static server without fallback routes.

/// One screen of the app.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Route {
    /// The conversation list (on a phone) next to every message (wide screens).
    #[default]
    Home,
    /// Every direct message, newest last.
    All,
    /// A direct conversation with a contact (node id).
    Dm(String),
    /// A private gate (gate id).
    Gate(String),
    /// Identity, keys and backup, storage.
    Settings,
    /// Chain sync, the relays' signed tree heads and the event explorer.
    Network,
    /// The public chain's channels (timelines and posting).
    Channels,
}

/// Ids in a route are hex, or node ids like `!sb_…`: keep only those characters (nothing from the URL
/// reaches the page unfiltered).
fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'!'))
}

impl Route {
    /// Parse `location.hash` (with or without the leading `#`); unknown fragments are `Home`.
    pub fn parse(hash: &str) -> Route {
        let h = hash.trim_start_matches('#').trim_start_matches('/');
        let mut parts = h.splitn(2, '/');
        let head = parts.next().unwrap_or("");
        let rest = parts.next().unwrap_or("").trim_end_matches('/');
        match head {
            "all" => Route::All,
            "dm" if id_ok(rest) => Route::Dm(rest.to_string()),
            "gate" if id_ok(rest) => Route::Gate(rest.to_string()),
            "settings" => Route::Settings,
            "channels" => Route::Channels,
            // `#sync` was the old in-page anchor of the chain sync panel.
            "network" | "sync" => Route::Network,
            _ => Route::Home,
        }
    }

    /// The fragment for this route, with its `#`.
    pub fn hash(&self) -> String {
        match self {
            Route::Home => "#/".into(),
            Route::All => "#/all".into(),
            Route::Dm(n) => format!("#/dm/{n}"),
            Route::Gate(g) => format!("#/gate/{g}"),
            Route::Settings => "#/settings".into(),
            Route::Network => "#/network".into(),
            Route::Channels => "#/channels".into(),
        }
    }

    /// A conversation pane is the main content (on a phone the list is hidden).
    pub fn is_conversation(&self) -> bool {
        matches!(self, Route::All | Route::Dm(_) | Route::Gate(_))
    }

    /// Short name for `data-route` (styling and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Home => "home",
            Route::All => "all",
            Route::Dm(_) => "dm",
            Route::Gate(_) => "gate",
            Route::Settings => "settings",
            Route::Network => "network",
            Route::Channels => "channels",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn round_trips() {
        for r in [
            Route::Home,
            Route::All,
            Route::Dm("!sb_abc_DEF-1".into()),
            Route::Gate("00ff".into()),
            Route::Settings,
            Route::Network,
        ] {
            assert_eq!(Route::parse(&r.hash()), r);
        }
    }

    #[test]
    fn unknown_or_unsafe_is_home() {
        assert_eq!(Route::parse(""), Route::Home);
        assert_eq!(Route::parse("#/nope"), Route::Home);
        assert_eq!(Route::parse("#/dm/"), Route::Home);
        assert_eq!(Route::parse("#/dm/<script>"), Route::Home);
        assert_eq!(Route::parse("#sync"), Route::Network);
        assert_eq!(Route::parse("#/gate/ab/"), Route::Gate("ab".into()));
    }
}
