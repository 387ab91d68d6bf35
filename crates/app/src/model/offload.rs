//! The lazily loaded worker's one-shot operations (Argon2id, backup files, QR decoding): the JSON
//! request and answer the page exchanges with `postern-worker` (`web/sync-worker.js` →
//! `posternWorkerOp`), and [`run`], which the worker binary calls. Every rule is
//! `postern_core::backup`'s or `model::qr`'s; this file only moves bytes across the worker
//! boundary, so the page's wasm links no Argon2 and no QR decoder.
use postern_core::b64;
use postern_core::backup::{self, KdfParams};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::model::qr;
use zeroize::Zeroizing;

/// One request to the worker. Byte strings are base64url (no padding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Generic Argon2id (`postern_core::backup::derive_key`, the backups' KDF): answers the
    /// 32-byte key, base64url. For any caller that needs a passphrase key (backups, a store lock).
    Argon2id {
        passphrase: String,
        salt: String,
        params: KdfParams,
    },
    /// `backup::seal` with a fresh salt and nonce from the worker's CSPRNG: answers the file text.
    BackupSeal {
        passphrase: String,
        payload: String,
        params: KdfParams,
    },
    /// `backup::open`: answers the payload, base64url.
    BackupOpen { passphrase: String, file: String },
    /// `model::qr::decode` of one greyscale camera frame (`luma`: `width` × `height` bytes,
    /// base64url): answers the text of the first readable code, or the error [`NO_QR_CODE`].
    QrDecode {
        width: usize,
        height: usize,
        luma: String,
    },
}

/// The error of [`Op::QrDecode`] when the frame holds no readable code (the scanner tries the
/// next frame).
pub const NO_QR_CODE: &str = "no QR code in the frame";

/// The worker's answer: exactly one of `value` / `error` is set. `error` is the core error's
/// text (what the settings page shows).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    pub value: Option<String>,
    pub error: Option<String>,
    /// Worker time spent on the operation (ms), filled in by the worker.
    pub busy_ms: f64,
}

impl Answer {
    fn from(r: Result<String, String>) -> Answer {
        match r {
            Ok(v) => Answer {
                value: Some(v),
                ..Answer::default()
            },
            Err(e) => Answer {
                error: Some(e),
                ..Answer::default()
            },
        }
    }

    /// The value, or the error text.
    pub fn into_result(self) -> Result<String, String> {
        match (self.value, self.error) {
            (_, Some(e)) => Err(e),
            (Some(v), None) => Ok(v),
            (None, None) => Err("empty answer from the worker".into()),
        }
    }
}

/// Run one operation (in the worker).
pub fn run(op: &Op, rng: &mut impl CryptoRngCore) -> Answer {
    Answer::from(match op {
        Op::Argon2id {
            passphrase,
            salt,
            params,
        } => b64::decode_url(salt)
            .map_err(|_| "bad salt".to_string())
            .and_then(|salt| {
                backup::derive_key(passphrase, &salt, params).map_err(|e| e.to_string())
            })
            .map(|key| b64::encode_url(&key[..])),
        Op::BackupSeal {
            passphrase,
            payload,
            params,
        } => b64::decode_url(payload)
            .map(Zeroizing::new)
            .map_err(|_| "bad payload".to_string())
            .and_then(|p| backup::seal(passphrase, &p, *params, rng).map_err(|e| e.to_string())),
        Op::BackupOpen { passphrase, file } => backup::open(passphrase, file)
            .map(|p| b64::encode_url(&p))
            .map_err(|e| e.to_string()),
        Op::QrDecode {
            width,
            height,
            luma,
        } => b64::decode_url(luma)
            .map_err(|_| "bad frame".to_string())
            .and_then(|l| qr::decode(&l, *width, *height).ok_or_else(|| NO_QR_CODE.to_string())),
    })
}

/// [`run`] on a JSON [`Op`], answering a JSON [`Answer`] (the worker's export).
pub fn run_json(request: &str, rng: &mut impl CryptoRngCore) -> Answer {
    match serde_json::from_str::<Op>(request) {
        Ok(op) => run(&op, rng),
        Err(e) => Answer::from(Err(format!("bad request to the worker: {e}"))),
    }
}

/// Decode a base64url value of an [`Answer`] (payload or key).
pub fn decode(value: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    b64::decode_url(value)
        .map(Zeroizing::new)
        .map_err(|_| "bad answer from the worker".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    const LIGHT: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn seal_then_open_round_trips_through_json() {
        let seal = Op::BackupSeal {
            passphrase: "correct horse".into(),
            payload: b64::encode_url(b"{\"records\":1}"),
            params: LIGHT,
        };
        let req = serde_json::to_string(&seal).unwrap();
        let file = run_json(&req, &mut OsRng).into_result().unwrap();
        let open = Op::BackupOpen {
            passphrase: "correct horse".into(),
            file: file.clone(),
        };
        let answer = run_json(&serde_json::to_string(&open).unwrap(), &mut OsRng);
        assert_eq!(
            &decode(&answer.into_result().unwrap()).unwrap()[..],
            b"{\"records\":1}"
        );
        let wrong = Op::BackupOpen {
            passphrase: "wrong horse!".into(),
            file,
        };
        let err = run(&wrong, &mut OsRng).into_result().unwrap_err();
        assert_eq!(err, backup::BackupError::WrongPassphrase.to_string());
    }

    #[test]
    fn argon2id_equals_core_derive_key() {
        let salt = [7u8; 16];
        let op = Op::Argon2id {
            passphrase: "pass phrase".into(),
            salt: b64::encode_url(&salt),
            params: LIGHT,
        };
        let key = decode(&run(&op, &mut OsRng).into_result().unwrap()).unwrap();
        let want = backup::derive_key("pass phrase", &salt, &LIGHT).unwrap();
        assert_eq!(&key[..], &want[..]);
    }

    #[test]
    fn qr_decode_reads_a_code_and_refuses_bad_frames() {
        let m = qr::encode("postern-safety:0123").unwrap();
        let scale = 3;
        let side = m.extent() * scale;
        let mut luma = vec![255u8; side * side];
        for y in 0..side {
            for x in 0..side {
                let (mx, my) = (x / scale, y / scale);
                let dark = mx >= qr::QUIET_ZONE
                    && my >= qr::QUIET_ZONE
                    && m.is_dark(mx - qr::QUIET_ZONE, my - qr::QUIET_ZONE);
                if dark {
                    luma[y * side + x] = 0;
                }
            }
        }
        let op = |luma: &[u8], width, height| Op::QrDecode {
            width,
            height,
            luma: b64::encode_url(luma),
        };
        let req = serde_json::to_string(&op(&luma, side, side)).unwrap();
        let answer = run_json(&req, &mut OsRng).into_result();
        assert_eq!(answer.as_deref(), Ok("postern-safety:0123"));
        let blank = run(&op(&[255; 64], 8, 8), &mut OsRng).into_result();
        assert_eq!(blank.unwrap_err(), NO_QR_CODE);
        // Wrong length, overflowing sizes, bad base64: errors, no panic.
        assert!(run(&op(&luma, side, side + 1), &mut OsRng).error.is_some());
        assert!(run(&op(&[0; 4], usize::MAX, 2), &mut OsRng).error.is_some());
        let bad = Op::QrDecode {
            width: 1,
            height: 1,
            luma: "!!".into(),
        };
        assert_eq!(
            run(&bad, &mut OsRng).into_result().unwrap_err(),
            "bad frame"
        );
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        for req in ["", "{}", "{\"op\":\"nope\"}", "{\"op\":\"argon2id\"}"] {
            assert!(run_json(req, &mut OsRng).error.is_some(), "{req}");
        }
        let op = Op::Argon2id {
            passphrase: "x".into(),
            salt: "!!".into(),
            params: LIGHT,
        };
        assert_eq!(run(&op, &mut OsRng).into_result().unwrap_err(), "bad salt");
    }
}
