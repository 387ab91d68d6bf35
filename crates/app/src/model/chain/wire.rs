//! The verifier's answer on the wire between the worker and the page: the [`FromWorker`] JSON,
//! then, after one newline, a raw trailer — the accepted events' page container
//! ([`super::pages::encode`], stored as it is) or the snapshot record — so these large texts are
//! neither JSON-escaped in the worker nor unescaped and copied again on the page thread (the
//! JSON part never holds a raw newline).
use super::pages;
use super::FromWorker;

/// [`FromWorker::trailer`] of an answer followed by the accepted events' exact texts as one
/// page container ([`FromWorker::page`]).
pub const PAGE: &str = "page";
/// [`FromWorker::trailer`] of an answer followed by the snapshot record
/// ([`FromWorker::snapshot`]).
pub const SNAPSHOT: &str = "snapshot";

/// The answer as sent: the accepted texts (when every accepted event has its text: pages, not
/// replays) or the snapshot record moved out of the JSON into the trailer.
pub fn encode_answer(mut out: FromWorker) -> String {
    let texts = (!out.accepted.is_empty())
        .then(|| {
            out.accepted
                .iter()
                .map(|e| e.json.as_deref())
                .collect::<Option<Vec<&str>>>()
        })
        .flatten();
    let trailer = match (texts, out.snapshot.take()) {
        (_, Some(record)) => Some((SNAPSHOT, record)),
        (Some(texts), None) => Some((PAGE, pages::encode(&texts))),
        (None, None) => None,
    };
    if trailer.as_ref().is_some_and(|(t, _)| *t == PAGE) {
        for e in &mut out.accepted {
            e.json = None;
        }
    }
    out.trailer = trailer.as_ref().map(|(t, _)| *t).unwrap_or_default().into();
    // Plain structs of strings and numbers: serialising cannot fail.
    let mut text = serde_json::to_string(&out).unwrap_or_default();
    if let Some((_, body)) = trailer {
        text.reserve(body.len() + 1);
        text.push('\n');
        text.push_str(&body);
    }
    text
}

/// Read an answer: the JSON, with its trailer put back where it says (`page` or `snapshot`).
/// A trailer it does not announce, or an announced one that is missing, is an error.
pub fn decode_answer(text: &str) -> Result<FromWorker, String> {
    let (json, rest) = match text.split_once('\n') {
        Some((j, r)) => (j, Some(r)),
        None => (text, None),
    };
    let mut out: FromWorker = serde_json::from_str(json).map_err(|e| e.to_string())?;
    match (out.trailer.as_str(), rest) {
        ("", None) => {}
        (SNAPSHOT, Some(r)) => out.snapshot = Some(r.to_string()),
        (PAGE, Some(r)) => {
            let n = pages::decode(r).map_err(|e| e.to_string())?.len();
            if n != out.accepted.len() {
                return Err(format!(
                    "page of {n} texts for {} accepted events",
                    out.accepted.len()
                ));
            }
            out.page = Some(r.to_string());
        }
        _ => return Err("answer trailer does not match".into()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chain::{EventSummary, Verifier};

    fn summary(index: u64, json: Option<&str>) -> EventSummary {
        EventSummary {
            index,
            event_id: format!("{index:064x}"),
            event_type: "message".into(),
            node_id: "!sb_1".into(),
            timestamp: 1.5,
            sequence: "1".into(),
            sealed: false,
            json: json.map(str::to_string),
        }
    }

    #[test]
    fn a_page_answer_carries_its_texts_as_the_stored_container() {
        let texts = [r#"{"a":"x\ny"}"#, "{\"b\":\"\u{e9}\"}", "{}"];
        let mut out = Verifier::new().answer(7);
        out.accepted = texts
            .iter()
            .enumerate()
            .map(|(i, t)| summary(10 + i as u64, Some(t)))
            .collect();
        let wire = encode_answer(out.clone());
        let (json, rest) = wire.split_once('\n').unwrap();
        assert!(!json.contains("x\\ny"), "the texts are not in the JSON");
        assert_eq!(rest, pages::encode(&texts));
        let back = decode_answer(&wire).unwrap();
        assert_eq!(back.page.as_deref(), Some(rest));
        assert!(back.accepted.iter().all(|e| e.json.is_none()));
        assert_eq!(back.accepted.len(), 3);
        assert_eq!(back.accepted[2].index, 12);
        assert_eq!(back.verified, out.verified);
    }

    #[test]
    fn snapshots_go_raw_and_other_answers_unchanged() {
        let mut out = Verifier::new().answer(3);
        out.snapshot = Some("{\"v\":1}\n{\"ids\":[]}".into());
        let back = decode_answer(&encode_answer(out.clone())).unwrap();
        assert_eq!(back.snapshot, out.snapshot);
        assert_eq!(back.trailer, SNAPSHOT);
        let plain = Verifier::new().answer(4);
        let wire = encode_answer(plain.clone());
        assert!(!wire.contains('\n'));
        assert_eq!(decode_answer(&wire).unwrap(), plain);
        // Replayed events carry no texts: no trailer.
        let mut replay = Verifier::new().answer(5);
        replay.accepted = vec![summary(0, None)];
        assert_eq!(
            decode_answer(&encode_answer(replay.clone())).unwrap(),
            replay
        );
    }

    #[test]
    fn a_trailer_that_does_not_fit_is_refused() {
        let mut out = Verifier::new().answer(1);
        out.accepted = vec![summary(0, Some("{}")), summary(1, Some("{}"))];
        let wire = encode_answer(out);
        let (json, _) = wire.split_once('\n').unwrap();
        assert!(decode_answer(json).is_err(), "announced, missing");
        assert!(
            decode_answer(&format!("{json}\npg1 1\n2:{{}}")).is_err(),
            "count"
        );
        assert!(decode_answer(&format!("{json}\nnot a page")).is_err());
        let plain = encode_answer(Verifier::new().answer(2));
        assert!(decode_answer(&format!("{plain}\nextra")).is_err());
    }
}
