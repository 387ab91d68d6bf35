//! Private gates (`postern-gate/1`): epoch chains, epoch keys, sealed gate messages.
use postern_core::gate::{
    self, AddEpochError, ChainError, Epoch, EpochKey, EpochRecord, FormatError, GateId,
    GateKeyring as CoreKeyring, GateMessage, GateState, Reason, Role, UnwrapError,
};
use postern_core::identity::PublicIdentity;
use rand_core::OsRng;
use wasm_bindgen::prelude::*;

use crate::error::{identity_error, js_error, to_u64};
use crate::gate_error::{gate_error, roster_error};
use crate::gate_results::{
    GateDrained, GateDrainedJs, GateMember, GateMemberJs, GateReceived, GateReceivedJs,
    OpenedGateMessage, OpenedGateMessageJs,
};
use crate::identity::Identity;
use crate::results::{to_js, to_js_vec};

fn parse_message(json: &str) -> Result<GateMessage, JsValue> {
    GateMessage::from_json(json).map_err(gate_error)
}

fn message_json(m: &GateMessage) -> Result<String, JsValue> {
    m.to_json().map_err(gate_error)
}

/// A verified gate epoch chain (core's `GateState`) plus the records and verified epochs it was
/// built from, so that keys of past epochs can still be unlocked.
#[wasm_bindgen]
pub struct GateChain {
    state: GateState,
    records: Vec<EpochRecord>,
    epochs: Vec<Epoch>,
}

impl GateChain {
    fn from_genesis(record: EpochRecord) -> Result<GateChain, ChainError> {
        let state = GateState::from_genesis(&record)?;
        let head = state.head().clone();
        Ok(GateChain {
            state,
            records: vec![record],
            epochs: vec![head],
        })
    }

    fn push(&mut self, record: EpochRecord) -> Result<(), ChainError> {
        let epoch = self.state.apply(&record)?;
        self.records.push(record);
        self.epochs.push(epoch);
        Ok(())
    }

    fn epoch_by_number(&self, number: u64) -> Result<&Epoch, JsValue> {
        self.epochs
            .iter()
            .find(|e| e.number() == number)
            .ok_or_else(|| js_error("gate_unknown_epoch", format!("no key for epoch {number}")))
    }
}

#[wasm_bindgen]
impl GateChain {
    /// Create a new gate: a random gate id (or `gateId`, 32 lower-case hex) and its genesis epoch
    /// with `founder` as the sole admin. `createdAt` is UNIX seconds. Publish `recordsJson()`.
    #[wasm_bindgen]
    pub fn create(
        founder: &Identity,
        created_at: f64,
        gate_id: Option<String>,
    ) -> Result<GateChain, JsValue> {
        let gate = match gate_id {
            Some(s) => GateId::parse(&s).map_err(gate_error)?,
            None => GateId::generate(&mut OsRng),
        };
        let created_at = to_u64(created_at.floor(), "createdAt")?;
        let record = gate::create_genesis(&founder.inner, &gate, created_at, &mut OsRng)
            .map_err(gate_error)?;
        GateChain::from_genesis(record).map_err(gate_error)
    }

    /// Verify a whole epoch history (JSON array of epoch records, genesis first): every record's
    /// signature and roster, `prev_hash` links, consecutive numbers, and that each rotator was an
    /// admin of the previous epoch (core's `GateState`, as `verify_epoch_chain`). Throws
    /// `gate_bad_genesis`, `gate_not_admin`, `gate_prev_hash_mismatch`, `gate_bad_signature`, ….
    #[wasm_bindgen]
    pub fn verify(records_json: &str) -> Result<GateChain, JsValue> {
        let records: Vec<EpochRecord> = serde_json::from_str(records_json)
            .map_err(|_| gate_error(FormatError::Malformed("epoch record JSON array")))?;
        let mut it = records.into_iter();
        let first = it
            .next()
            .ok_or_else(|| gate_error(ChainError::BadGenesis("empty chain")))?;
        let mut chain = GateChain::from_genesis(first).map_err(gate_error)?;
        for record in it {
            chain.push(record).map_err(gate_error)?;
        }
        Ok(chain)
    }

    /// Verify and append the next epoch record (JSON). Throws `gate_replayed_epoch`,
    /// `gate_forked_epoch`, `gate_skipped_epoch`, `gate_not_admin`, ….
    #[wasm_bindgen]
    pub fn apply(&mut self, record_json: &str) -> Result<(), JsValue> {
        let record = EpochRecord::from_json(record_json).map_err(gate_error)?;
        self.push(record).map_err(gate_error)
    }

    /// Rotate to a new epoch with a fresh secret: the head roster plus `add` (public identity
    /// strings, joining as members) minus `remove` (member ids). `rotator` must be an admin of
    /// the head epoch. The new record is applied to this chain and returned as JSON (publish it).
    /// Reason: `kick` if anyone is removed, else `join` if anyone is added, else `rotate`.
    #[wasm_bindgen]
    pub fn rotate(
        &mut self,
        rotator: &Identity,
        add: Vec<String>,
        remove: Vec<String>,
        created_at: f64,
    ) -> Result<String, JsValue> {
        let created_at = to_u64(created_at.floor(), "createdAt")?;
        let mut roster = self.state.head().roster().clone();
        for p in &add {
            let member: PublicIdentity = p.parse().map_err(identity_error)?;
            roster = roster
                .with_member(member, Role::Member)
                .map_err(roster_error)?;
        }
        for id in &remove {
            roster = roster.without_member(id).map_err(roster_error)?;
        }
        let reason = if !remove.is_empty() {
            Reason::Kick
        } else if !add.is_empty() {
            Reason::Join
        } else {
            Reason::Rotate
        };
        let record = gate::rotate(
            &rotator.inner,
            self.state.head(),
            roster,
            reason,
            created_at,
            &mut OsRng,
        )
        .map_err(gate_error)?;
        let json = record.to_json().map_err(gate_error)?;
        self.push(record).map_err(gate_error)?;
        Ok(json)
    }

    /// The gate id (32 lower-case hex characters).
    #[wasm_bindgen(getter, js_name = gateId)]
    pub fn gate_id(&self) -> String {
        self.state.gate().to_string()
    }

    /// Number of the head (latest) epoch; genesis is 1.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.state.epoch() as f64
    }

    /// Hex hash of the genesis epoch: pins the gate (share it in invitations).
    #[wasm_bindgen(getter, js_name = genesisHash)]
    pub fn genesis_hash(&self) -> String {
        hex::encode(self.state.genesis_hash())
    }

    /// Hex hash of the head epoch.
    #[wasm_bindgen(getter, js_name = headHash)]
    pub fn head_hash(&self) -> String {
        hex::encode(self.state.head().hash())
    }

    /// The roster of epoch `epoch` (default: the head).
    #[wasm_bindgen]
    pub fn members(&self, epoch: Option<f64>) -> Result<Vec<GateMemberJs>, JsValue> {
        let ep = match epoch {
            Some(n) => self.epoch_by_number(to_u64(n, "epoch")?)?,
            None => self.state.head(),
        };
        let members: Vec<GateMember> = ep
            .roster()
            .entries()
            .iter()
            .map(|e| GateMember {
                member_id: e.member_id().to_string(),
                role: e.role().into(),
                public_identity: e.identity().to_string(),
            })
            .collect();
        to_js_vec(&members)
    }

    /// All records, genesis first, as a JSON array (what `GateChain.verify` takes).
    #[wasm_bindgen(js_name = recordsJson)]
    pub fn records_json(&self) -> Result<String, JsValue> {
        serde_json::to_string(&self.records).map_err(|e| js_error("internal", e))
    }

    /// Unwrap my secret of epoch `epoch` (default: the head) into a key handle.
    /// Throws `gate_not_a_member` if `me` is not in that epoch's roster, `gate_unknown_epoch`.
    #[wasm_bindgen]
    pub fn unlock(&self, me: &Identity, epoch: Option<f64>) -> Result<GateEpochKey, JsValue> {
        let ep = match epoch {
            Some(n) => self.epoch_by_number(to_u64(n, "epoch")?)?,
            None => self.state.head(),
        };
        EpochKey::unlock(&me.inner, ep)
            .map(|key| GateEpochKey { key })
            .map_err(gate_error)
    }
}

/// The unwrapped secret of one gate epoch (zeroized when freed).
#[wasm_bindgen]
pub struct GateEpochKey {
    key: EpochKey,
}

#[wasm_bindgen]
impl GateEpochKey {
    #[wasm_bindgen(getter, js_name = gateId)]
    pub fn gate_id(&self) -> String {
        self.key.gate().to_string()
    }

    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.key.epoch() as f64
    }

    /// Seal `body` (at most 2707 bytes) from `author` (a member of this epoch). Returns the
    /// sealed message as JSON: exactly the Infonet/2 `gate_message` payload.
    /// Throws `gate_author_not_in_roster`, `gate_body_too_large`.
    #[wasm_bindgen]
    pub fn seal(&self, author: &Identity, body: &[u8], timestamp: f64) -> Result<String, JsValue> {
        let ts = to_u64(timestamp.floor(), "timestamp")?;
        let msg = gate::seal(&author.inner, &self.key, body, ts, &mut OsRng).map_err(gate_error)?;
        message_json(&msg)
    }

    /// Open a sealed message (JSON) of this epoch. Throws `gate_wrong_epoch`, `gate_decrypt`,
    /// `gate_bad_message_signature`, `gate_malformed`, ….
    #[wasm_bindgen]
    pub fn open(&self, message_json: &str) -> Result<OpenedGateMessageJs, JsValue> {
        let msg = parse_message(message_json)?;
        let opened = gate::open(&self.key, &msg).map_err(gate_error)?;
        to_js(&OpenedGateMessage::from(opened))
    }
}

/// All my epoch keys of one gate (core's `GateKeyring`): opens messages of any known epoch,
/// queues messages of future epochs, remembers epochs I was removed from.
#[wasm_bindgen]
pub struct GateKeyring {
    inner: CoreKeyring,
}

#[wasm_bindgen]
impl GateKeyring {
    /// An empty keyring for `gateId`. Throws `gate_bad_gate_id`.
    #[wasm_bindgen(constructor)]
    pub fn new(gate_id: &str) -> Result<GateKeyring, JsValue> {
        let gate = GateId::parse(gate_id).map_err(gate_error)?;
        Ok(GateKeyring {
            inner: CoreKeyring::new(gate),
        })
    }

    /// Add every epoch of `chain` newer than this keyring's latest: unlocks my slot where I am a
    /// member, marks the epoch locked where I am not (no error), and returns the queued messages
    /// that could now be processed. Throws `gate_wrong_gate`.
    #[wasm_bindgen(js_name = addChain)]
    pub fn add_chain(
        &mut self,
        me: &Identity,
        chain: &GateChain,
    ) -> Result<Vec<GateDrainedJs>, JsValue> {
        let latest = self.inner.latest_epoch().unwrap_or(0);
        let mut out = Vec::new();
        for ep in chain.epochs.iter().filter(|e| e.number() > latest) {
            match self.inner.add_epoch(&me.inner, ep) {
                Ok(drained) => {
                    for (msg, res) in drained {
                        let (opened, error) = match res {
                            Ok(m) => (Some(m.into()), JsValue::NULL),
                            Err(e) => (None, gate_error(e)),
                        };
                        out.push(GateDrained {
                            message_json: message_json(&msg)?,
                            opened,
                            error,
                        });
                    }
                }
                Err(AddEpochError::Unwrap(UnwrapError::NotAMember { .. })) => {}
                Err(e) => return Err(gate_error(e)),
            }
        }
        to_js_vec(&out)
    }

    /// Highest epoch known (unlocked or locked), or `undefined`.
    #[wasm_bindgen(getter, js_name = latestEpoch)]
    pub fn latest_epoch(&self) -> Option<f64> {
        self.inner.latest_epoch().map(|n| n as f64)
    }

    /// Number of messages waiting for a future epoch.
    #[wasm_bindgen(getter, js_name = pendingCount)]
    pub fn pending_count(&self) -> f64 {
        self.inner.pending_len() as f64
    }

    /// Seal under the latest epoch. Throws `gate_not_a_member` if I was removed from it.
    #[wasm_bindgen]
    pub fn seal(&self, author: &Identity, body: &[u8], timestamp: f64) -> Result<String, JsValue> {
        let ts = to_u64(timestamp.floor(), "timestamp")?;
        let msg = self
            .inner
            .seal(&author.inner, body, ts, &mut OsRng)
            .map_err(gate_error)?;
        message_json(&msg)
    }

    /// Open a message of a known epoch. Throws `gate_not_a_member` for epochs I was removed
    /// from, `gate_unknown_epoch`, `gate_decrypt`, ….
    #[wasm_bindgen]
    pub fn open(&self, message_json: &str) -> Result<OpenedGateMessageJs, JsValue> {
        let msg = parse_message(message_json)?;
        let opened = self.inner.open(&msg).map_err(gate_error)?;
        to_js(&OpenedGateMessage::from(opened))
    }

    /// Open a message, or queue it if its epoch is newer than any known (`addChain` drains it).
    #[wasm_bindgen]
    pub fn receive(&mut self, message_json: &str) -> Result<GateReceivedJs, JsValue> {
        let msg = parse_message(message_json)?;
        let received = self.inner.receive(msg).map_err(gate_error)?;
        to_js(&GateReceived::from(received))
    }
}
