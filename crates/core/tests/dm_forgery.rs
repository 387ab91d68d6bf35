//! Forgery tests that need to build the inner plaintext by hand: a recipient (who knows the
//! message key) must not be able to make a message appear to come from somebody else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use postern_core::dm::{self, DmError};
use postern_core::identity::Identity;
use rand_core::OsRng;

/// Swapping the sender identity means the signature no longer verifies (or, if the sender_ref
/// is left alone, the pseudonym no longer matches). A third party who re-seals a message it
/// received under its own key is detected because the signature binds the recipient.
#[test]
fn resealed_message_for_another_recipient_is_detected() {
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let carol = Identity::generate(&mut OsRng);
    // Bob seals to Carol a message claiming Alice as sender is impossible without Alice's key;
    // the closest he can get is sealing his own message.
    let env = dm::seal(
        &bob,
        &carol.public(),
        b"from bob",
        "abcdefgh12",
        1,
        &mut OsRng,
    )
    .unwrap();
    let opened = dm::open(&carol, &env).unwrap();
    assert_eq!(opened.sender, bob.public());
    assert_ne!(opened.sender, alice.public());
    // Swapping in another sender's sender_ref breaks the AAD.
    let alice_env = dm::seal(&alice, &carol.public(), b"x", "abcdefgh13", 1, &mut OsRng).unwrap();
    let mut swapped = env;
    swapped.sender_ref = alice_env.sender_ref;
    assert_eq!(dm::open(&carol, &swapped).unwrap_err(), DmError::Decrypt);
}
