//! Helpers shared by the gate test files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Deterministic test RNG (NOT secure; for known-answer vectors only):
/// `block_i = sha256("postern/test-rng/v1" ‖ seed ‖ u64be(i))`, output = block_0 ‖ block_1 ‖ …
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

pub const TEST_RNG_LABEL: &[u8] = b"postern/test-rng/v1";

impl TestRng {
    pub fn new(seed: [u8; 32]) -> Self {
        TestRng {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == 32 {
                let mut h = Sha256::new();
                h.update(TEST_RNG_LABEL);
                h.update(self.seed);
                h.update(self.counter.to_be_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Marker only: this RNG is deterministic and must never leave test code.
impl CryptoRng for TestRng {}
