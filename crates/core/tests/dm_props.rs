//! Property tests (native only: proptest needs std facilities the browser lacks).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use postern_core::dm::{self, DmEnvelope};
use postern_core::identity::Identity;
use proptest::prelude::*;
use rand_core::OsRng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_open_round_trip(body in proptest::collection::vec(any::<u8>(), 0..4000), ts in any::<u64>()) {
        let a = Identity::generate(&mut OsRng);
        let b = Identity::generate(&mut OsRng);
        let id = dm::new_msg_id(&mut OsRng);
        let env = dm::seal(&a, &b.public(), &body, &id, ts, &mut OsRng);
        if body.len() > dm::MAX_BODY_LEN {
            prop_assert!(env.is_err());
        } else {
            let opened = dm::open(&b, &env.unwrap()).unwrap();
            prop_assert_eq!(&opened.body[..], &body[..]);
            prop_assert_eq!(opened.timestamp, ts);
        }
    }

    #[test]
    fn random_envelopes_never_panic(
        format in prop_oneof![Just(dm::FORMAT.to_string()), ".{0,20}"],
        rid in ".{0,50}", mid in ".{0,140}", sref in "[0-9a-f]{0,40}",
        eph in proptest::collection::vec(any::<u8>(), 0..40),
        ct in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let me = Identity::generate(&mut OsRng);
        let env = DmEnvelope {
            format, recipient_id: rid, msg_id: mid, sender_ref: sref,
            ephemeral_pub: postern_core::b64::encode_std(&eph),
            ciphertext: postern_core::b64::encode_std(&ct),
        };
        let _ = env.validate();
        prop_assert!(dm::open(&me, &env).is_err());
    }

    #[test]
    fn random_json_never_panics(s in "\\PC{0,300}") {
        let _ = serde_json::from_str::<DmEnvelope>(&s);
    }
}
