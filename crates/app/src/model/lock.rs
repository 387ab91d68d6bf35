//! The passphrase lock's pure rules: what the settings form accepts (set, change, remove), the
//! unlock screen's states, and the words shown for each. The crypto is core `lock`; the
//! browser side is `platform::idb::lock` and the views `crate::lock`.

/// Shortest passphrase accepted for a new lock (and for a new backup).
pub const MIN_PASSPHRASE: usize = 10;

/// What the settings form is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOp {
    /// Lock an unlocked store with a new passphrase.
    Set,
    /// Replace the passphrase (the current one is needed).
    Change,
    /// Remove the lock (the current one is needed).
    Remove,
}

/// A form input the app refuses before doing any work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputError {
    TooShort,
    Differ,
    CurrentMissing,
    SameAsCurrent,
}

impl InputError {
    pub fn words(self) -> String {
        match self {
            InputError::TooShort => {
                format!("Use a passphrase of at least {MIN_PASSPHRASE} characters.")
            }
            InputError::Differ => "The two new passphrases differ.".to_string(),
            InputError::CurrentMissing => "Enter the current passphrase.".to_string(),
            InputError::SameAsCurrent => {
                "The new passphrase is the same as the current one.".to_string()
            }
        }
    }
}

/// Check the form for `op` (`current` is ignored for [`LockOp::Set`], `new`/`confirm` for
/// [`LockOp::Remove`]).
pub fn validate(op: LockOp, current: &str, new: &str, confirm: &str) -> Result<(), InputError> {
    if op != LockOp::Set && current.is_empty() {
        return Err(InputError::CurrentMissing);
    }
    if op == LockOp::Remove {
        return Ok(());
    }
    if new.chars().count() < MIN_PASSPHRASE {
        return Err(InputError::TooShort);
    }
    if new != confirm {
        return Err(InputError::Differ);
    }
    if op == LockOp::Change && new == current {
        return Err(InputError::SameAsCurrent);
    }
    Ok(())
}

/// Why a lock operation or an unlock failed (after validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The passphrase does not open the stored lock.
    WrongPassphrase,
    /// Another tab changed the lock meanwhile; nothing was changed here.
    Conflict,
    /// Storage or crypto failure (words for the person, no secret inside).
    Failed(String),
}

/// The status line after a settings operation.
pub fn op_result(op: LockOp, r: &Result<(), OpError>) -> String {
    match (op, r) {
        (LockOp::Set, Ok(())) => "Locked. From the next start, this browser asks for the \
             passphrase before it opens your keys and messages."
            .to_string(),
        (LockOp::Change, Ok(())) => "Passphrase changed. Use the new one from now on.".to_string(),
        (LockOp::Remove, Ok(())) => {
            "Lock removed. This browser opens your data without a passphrase again.".to_string()
        }
        (_, Err(OpError::WrongPassphrase)) => {
            "That is not the current passphrase. Nothing was changed.".to_string()
        }
        (_, Err(OpError::Conflict)) => "The lock was changed in another tab. Reload this tab \
             and try again; nothing was changed here."
            .to_string(),
        (_, Err(OpError::Failed(e))) => format!("That did not work ({e}). Nothing was changed."),
    }
}

/// Status while an operation runs (Argon2id takes a moment).
pub fn op_pending(op: LockOp) -> &'static str {
    match op {
        LockOp::Set => "Locking…",
        LockOp::Change => "Checking the current passphrase and changing it…",
        LockOp::Remove => "Checking the passphrase and removing the lock…",
    }
}

/// The unlock screen's state. Wrong passphrases never lock anything out or touch stored data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Unlock {
    #[default]
    Idle,
    /// Submitted with an empty field.
    Empty,
    /// Deriving the key and opening the store (`tries` wrong tries before this one).
    Working { tries: u32 },
    /// The last try was wrong (`tries` wrong tries so far, shown so a repeat is noticed).
    Wrong { tries: u32 },
    /// Something else failed (storage); trying again is allowed.
    Failed(String),
}

/// An input to the unlock screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockEvent {
    /// The form was submitted; `empty` when the field was empty.
    Submit { empty: bool },
    /// The unlock attempt ended with this error.
    Refused(OpError),
}

impl Unlock {
    /// The next state, and whether to start an unlock attempt now (never two at once).
    pub fn next(&self, ev: UnlockEvent) -> (Unlock, bool) {
        let tries = match self {
            Unlock::Wrong { tries } | Unlock::Working { tries } => *tries,
            _ => 0,
        };
        match ev {
            UnlockEvent::Submit { .. } if matches!(self, Unlock::Working { .. }) => {
                (self.clone(), false)
            }
            UnlockEvent::Submit { empty: true } => (Unlock::Empty, false),
            UnlockEvent::Submit { empty: false } => (Unlock::Working { tries }, true),
            UnlockEvent::Refused(OpError::WrongPassphrase) => (
                Unlock::Wrong {
                    tries: tries.saturating_add(1),
                },
                false,
            ),
            UnlockEvent::Refused(OpError::Conflict) => (
                Unlock::Failed("the lock changed in another tab; try again".to_string()),
                false,
            ),
            UnlockEvent::Refused(OpError::Failed(e)) => (Unlock::Failed(e), false),
        }
    }

    /// `data-state` of the status line.
    pub fn state(&self) -> &'static str {
        match self {
            Unlock::Idle => "idle",
            Unlock::Working { .. } => "pending",
            Unlock::Empty | Unlock::Wrong { .. } | Unlock::Failed(_) => "error",
        }
    }

    /// The status line, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            Unlock::Idle => None,
            Unlock::Empty => Some("Enter your passphrase.".to_string()),
            Unlock::Working { .. } => Some("Unlocking… (this takes a moment)".to_string()),
            Unlock::Wrong { tries: 1 } => Some(
                "That passphrase does not open this browser's data. Check Caps Lock and the \
                 keyboard layout, then try again. Nothing was changed or deleted."
                    .to_string(),
            ),
            Unlock::Wrong { tries } => Some(format!(
                "That passphrase does not open this browser's data ({tries} wrong tries). There \
                 is no limit and nothing was changed or deleted."
            )),
            Unlock::Failed(e) => Some(format!(
                "Could not unlock ({e}). Your data was kept untouched; try again or reload."
            )),
        }
    }

    /// Whether the field is marked invalid (for `aria-invalid`).
    pub fn invalid(&self) -> bool {
        matches!(self, Unlock::Empty | Unlock::Wrong { .. })
    }
}

/// Shown on the unlock screen: what happens while locked, and what to do if it is forgotten.
pub const LOCKED_NOTE: &str = "While this screen is shown nothing is fetched or sent: new \
     messages wait on the relay until you unlock (another unlocked Postern tab of this browser \
     keeps syncing).";
/// The "forgot it?" hint.
pub const FORGOT_HINT: &str = "Forgot it? The passphrase cannot be reset or recovered, and \
     nothing here is deleted by wrong tries. You can restore your identity, contacts and \
     messages from an encrypted backup file in a fresh browser profile (Settings → Import a \
     backup).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_in_order_and_in_words() {
        let long = "correct horse";
        assert_eq!(validate(LockOp::Set, "", long, long), Ok(()));
        assert_eq!(
            validate(LockOp::Set, "", "short", "short"),
            Err(InputError::TooShort)
        );
        // Counted in characters, not bytes.
        assert_eq!(
            validate(LockOp::Set, "", "ééééééééé", "ééééééééé"),
            Err(InputError::TooShort)
        );
        assert_eq!(
            validate(LockOp::Set, "", long, "correct horsf"),
            Err(InputError::Differ)
        );
        assert_eq!(
            validate(LockOp::Change, "", long, long),
            Err(InputError::CurrentMissing)
        );
        assert_eq!(
            validate(LockOp::Change, long, long, long),
            Err(InputError::SameAsCurrent)
        );
        assert_eq!(
            validate(LockOp::Change, "old passphrase", long, long),
            Ok(())
        );
        assert_eq!(
            validate(LockOp::Remove, "", "", ""),
            Err(InputError::CurrentMissing)
        );
        assert_eq!(validate(LockOp::Remove, "x", "", ""), Ok(()));
        assert!(InputError::TooShort.words().contains("10 characters"));
        assert!(InputError::Differ.words().contains("differ"));
    }

    #[test]
    fn unlock_screen_states() {
        let s = Unlock::default();
        assert_eq!(s.message(), None);
        let (s, go) = s.next(UnlockEvent::Submit { empty: true });
        assert_eq!((s.clone(), go), (Unlock::Empty, false));
        assert!(s.invalid());
        let (s, go) = s.next(UnlockEvent::Submit { empty: false });
        assert_eq!((s.clone(), go), (Unlock::Working { tries: 0 }, true));
        // A second submit while working starts nothing.
        assert_eq!(
            s.next(UnlockEvent::Submit { empty: false }),
            (Unlock::Working { tries: 0 }, false)
        );
        let (s, _) = s.next(UnlockEvent::Refused(OpError::WrongPassphrase));
        assert_eq!(s, Unlock::Wrong { tries: 1 });
        assert_eq!(s.state(), "error");
        assert!(s.message().unwrap_or_default().contains("does not open"));
        // No lock-out: another try is always allowed, and tries are counted.
        let (s, go) = s.next(UnlockEvent::Submit { empty: false });
        assert!(go);
        let (s, _) = s.next(UnlockEvent::Refused(OpError::WrongPassphrase));
        assert_eq!(s, Unlock::Wrong { tries: 2 });
        assert!(s.message().unwrap_or_default().contains("2 wrong tries"));
        let (s, _) = s.next(UnlockEvent::Refused(OpError::Failed("disk".into())));
        assert!(s.message().unwrap_or_default().contains("disk"));
        assert!(!s.invalid());
        assert!(s.next(UnlockEvent::Submit { empty: false }).1);
    }

    #[test]
    fn op_words() {
        assert!(op_result(LockOp::Set, &Ok(())).starts_with("Locked"));
        assert!(op_result(LockOp::Remove, &Ok(())).starts_with("Lock removed"));
        assert!(op_result(LockOp::Change, &Err(OpError::WrongPassphrase))
            .contains("not the current passphrase"));
        assert!(op_result(LockOp::Set, &Err(OpError::Conflict)).contains("another tab"));
        assert!(FORGOT_HINT.contains("backup"));
    }
}
