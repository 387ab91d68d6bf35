//! Cost of the strict batch's two prime-order checks of the `R`s (`strict_batch`): exact (one
//! multiplication by ℓ per point) against random subset sums (point additions per point + 128
//! multiplications by ℓ per batch), to place `SUBSET_CHECK_MIN` at the break-even.
//!
//! Native instruction counts (per point = (total(kind, n) − total(none, n)) / n):
//!   cargo build --release --example r_check_cost -p postern-core
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/r_check_cost exact 500
//! (kinds: `exact`, `subset`, `none` = the same setup without a check). Without arguments it
//! prints wall-clock timings per point for several batch sizes.
//!
//! Wasm timing (the app worker's profile): `cargo build --profile wasm-release-app --target
//! wasm32-unknown-unknown --example r_check_cost -p postern-core --no-default-features`, then
//! `node bench/r-check-wasm.mjs` calls the exported `prepare(n)` / `check(kind)`.
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use postern_core::strict_batch::{torsion_free_exact, torsion_free_subsets};
use sha2::{Digest as _, Sha512};
use std::sync::Mutex;

/// `n` distinct prime-order points and a mask per point (pseudo-random, fixed).
fn inputs(n: usize) -> (Vec<EdwardsPoint>, Vec<u128>) {
    let mut points = Vec::with_capacity(n);
    let mut masks = Vec::with_capacity(n);
    let mut p = ED25519_BASEPOINT_POINT * Scalar::from(7919u64);
    let step = ED25519_BASEPOINT_POINT * Scalar::from(104_729u64);
    for i in 0..n as u64 {
        points.push(p);
        p += step;
        let h = Sha512::digest(i.to_le_bytes());
        let mut m = [0u8; 16];
        m.copy_from_slice(&h[..16]);
        masks.push(u128::from_le_bytes(m));
    }
    (points, masks)
}

/// 0 = none, 1 = exact, 2 = subset sums.
fn run(kind: u32, points: &[EdwardsPoint], masks: &[u128]) -> bool {
    match kind {
        1 => torsion_free_exact(points),
        2 => torsion_free_subsets(points, masks),
        _ => true,
    }
}

static PREPARED: Mutex<(Vec<EdwardsPoint>, Vec<u128>)> = Mutex::new((Vec::new(), Vec::new()));

/// Wasm export: make `n` points for [`check`].
#[no_mangle]
pub extern "C" fn prepare(n: u32) {
    if let Ok(mut slot) = PREPARED.lock() {
        *slot = inputs(n as usize);
    }
}

/// Wasm export: run check `kind` (0 none, 1 exact, 2 subset sums) on the prepared points;
/// 1 when every point passed.
#[no_mangle]
pub extern "C" fn check(kind: u32) -> u32 {
    PREPARED
        .lock()
        .map(|p| u32::from(run(kind, &p.0, &p.1)))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let (Some(kind), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) {
        let kind = match kind.as_str() {
            "exact" => 1,
            "subset" => 2,
            _ => 0,
        };
        let (points, masks) = inputs(n);
        println!("{}", run(kind, &points, &masks));
        return;
    }
    for n in [128usize, 192, 256, 384, 500, 1024] {
        let (points, masks) = inputs(n);
        let mut per_point = [0.0f64; 2];
        for (slot, kind) in per_point.iter_mut().zip([1, 2]) {
            let t = std::time::Instant::now();
            let reps = 5;
            for _ in 0..reps {
                assert!(run(kind, &points, &masks));
            }
            *slot = t.elapsed().as_secs_f64() * 1e6 / (reps * n) as f64;
        }
        println!(
            "n = {n:5}: exact {:.1} µs/point, subset sums {:.1} µs/point",
            per_point[0], per_point[1]
        );
    }
}
