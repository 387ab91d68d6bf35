//! QR codes of contact strings: encoding text to modules and an SVG path (`qrcodegen`), decoding
//! a camera frame's luma bytes back to text (`quircs`, behind the one function [`decode`]), and the
//! safety-number payload compared after a scan.
use qrcodegen::{QrCode, QrCodeEcc};

/// Light modules around the code that readers need (the QR standard asks for 4).
pub const QUIET_ZONE: usize = 4;
/// Largest frame [`decode`] looks at (pixels); bigger frames are refused, not scanned slowly.
pub const MAX_PIXELS: usize = 2048 * 2048;
/// What a safety-number QR code holds before the number's digits.
pub const SAFETY_PREFIX: &str = "postern-safety:";

/// The dark/light modules of one QR code (`size` × `size`, row by row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    pub size: usize,
    dark: Vec<bool>,
}

impl Modules {
    /// True for a dark module; outside the code (the quiet zone) is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.dark[y * self.size + x]
    }

    /// Width and height of the drawing in modules, quiet zone included.
    pub fn extent(&self) -> usize {
        self.size + 2 * QUIET_ZONE
    }

    /// The dark modules as one SVG path in module units (quiet zone included): a `M x y h w v1
    /// h-w z` rectangle per run of dark modules in a row.
    pub fn svg_path(&self) -> String {
        let mut d = String::new();
        for y in 0..self.size {
            let mut x = 0;
            while x < self.size {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.size && self.is_dark(x, y) {
                    x += 1;
                }
                let w = x - start;
                d.push_str(&format!(
                    "M{} {}h{w}v1h-{w}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE
                ));
            }
        }
        d
    }
}

/// The QR code of `text` (byte mode, error correction level M); `None` when it is too long.
pub fn encode(text: &str) -> Option<Modules> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = usize::try_from(qr.size()).ok()?;
    let mut dark = Vec::with_capacity(size * size);
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            dark.push(qr.get_module(x, y));
        }
    }
    Some(Modules { size, dark })
}

/// The text of the first readable QR code in a greyscale frame (`luma`: `width` × `height`
/// bytes, row by row, 0 = black); `None` when none is found or the frame is malformed.
pub fn decode(luma: &[u8], width: usize, height: usize) -> Option<String> {
    let pixels = width.checked_mul(height)?;
    if width == 0 || height == 0 || pixels > MAX_PIXELS || luma.len() != pixels {
        return None;
    }
    let mut q = quircs::Quirc::default();
    q.identify(width, height, luma)
        .filter_map(Result::ok)
        .filter_map(|code| code.decode().ok())
        .find_map(|data| String::from_utf8(data.payload).ok())
}

/// The QR payload of a safety number: the prefix and its digits (no spaces).
pub fn safety_payload(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("{SAFETY_PREFIX}{digits}")
}

/// What a scanned code says about the local safety number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafetyScan {
    /// The same number: the keys on both sides are the ones each side sees.
    Match,
    /// A safety-number code with other digits: someone's keys differ (or another contact's).
    Mismatch,
    /// Not a Postern safety-number code at all.
    NotSafety,
}

/// Compare a scanned code with the local safety number.
pub fn compare_safety(scanned: &str, local_number: &str) -> SafetyScan {
    let Some(digits) = scanned.trim().strip_prefix(SAFETY_PREFIX) else {
        return SafetyScan::NotSafety;
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return SafetyScan::NotSafety;
    }
    if safety_payload(local_number) == format!("{SAFETY_PREFIX}{digits}") {
        SafetyScan::Match
    } else {
        SafetyScan::Mismatch
    }
}

/// Luma of a camera frame's RGBA bytes (`ImageData`), BT.601 weights in integers.
pub fn luma_of_rgba(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::Identity;
    use rand_core::OsRng;

    /// Rasterise an SVG path of [`Modules::svg_path`] (as a browser would draw it) at `scale`
    /// pixels per module into a luma frame with an extra `margin` of light pixels.
    fn raster_path(d: &str, extent: usize, scale: usize, margin: usize) -> (Vec<u8>, usize) {
        let side = extent * scale + 2 * margin;
        let mut luma = vec![255u8; side * side];
        for rect in d.split('z').filter(|r| !r.is_empty()) {
            let nums: Vec<usize> = rect
                .trim_start_matches('M')
                .split([' ', 'h', 'v'])
                .filter(|s| !s.is_empty() && !s.starts_with('-'))
                .map(|s| s.parse().unwrap())
                .collect();
            let (x0, y0, w) = (nums[0], nums[1], nums[2]);
            for py in y0 * scale..(y0 + 1) * scale {
                for px in x0 * scale..(x0 + w) * scale {
                    luma[(py + margin) * side + px + margin] = 0;
                }
            }
        }
        (luma, side)
    }

    #[test]
    fn identity_round_trips_through_the_svg_path() {
        let id = Identity::generate(&mut OsRng).public().to_string();
        let m = encode(&id).unwrap();
        assert!(m.size >= 21 && m.size <= 177);
        let (luma, side) = raster_path(&m.svg_path(), m.extent(), 4, 10);
        assert_eq!(decode(&luma, side, side).as_deref(), Some(id.as_str()));
        // A frame wider than high with the code off centre, as a camera gives.
        let (w, h) = (side + 120, side + 40);
        let mut wide = vec![200u8; w * h];
        for y in 0..side {
            wide[(y + 20) * w + 90..(y + 20) * w + 90 + side]
                .copy_from_slice(&luma[y * side..(y + 1) * side]);
        }
        assert_eq!(decode(&wide, w, h).as_deref(), Some(id.as_str()));
    }

    #[test]
    fn safety_payload_round_trips_and_compares() {
        let number = "12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890";
        let payload = safety_payload(number);
        assert_eq!(payload.len(), SAFETY_PREFIX.len() + 60);
        let m = encode(&payload).unwrap();
        let (luma, side) = raster_path(&m.svg_path(), m.extent(), 3, 0);
        let read = decode(&luma, side, side).unwrap();
        assert_eq!(compare_safety(&read, number), SafetyScan::Match);
        let other = number.replacen('1', "9", 1);
        assert_eq!(compare_safety(&read, &other), SafetyScan::Mismatch);
        assert_eq!(
            compare_safety("postern2.!sb_00", number),
            SafetyScan::NotSafety
        );
        assert_eq!(
            compare_safety("postern-safety:12a", number),
            SafetyScan::NotSafety
        );
        assert_eq!(compare_safety(SAFETY_PREFIX, number), SafetyScan::NotSafety);
    }

    #[test]
    fn bad_frames_do_not_panic() {
        assert_eq!(decode(&[], 0, 0), None);
        assert_eq!(decode(&[0; 10], 5, 3), None);
        assert_eq!(decode(&[0; 4], usize::MAX, 2), None);
        assert_eq!(decode(&[0; 16], 4, 4), None);
        assert_eq!(decode(&vec![255; 64 * 48], 64, 48), None);
        assert_eq!(decode(&vec![0; 64 * 48], 64, 48), None);
        // Noise (a fixed LCG) and stripes.
        let mut s: u32 = 0x1234_5678;
        let noise: Vec<u8> = (0..160 * 120)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 24) as u8
            })
            .collect();
        assert_eq!(decode(&noise, 160, 120), None);
        let stripes: Vec<u8> = (0..160 * 120)
            .map(|i| if (i % 160) / 7 % 2 == 0 { 0 } else { 255 })
            .collect();
        assert_eq!(decode(&stripes, 160, 120), None);
        assert!(encode(&"x".repeat(5000)).is_none());
    }

    #[test]
    fn damaged_codes_and_random_frames_do_not_panic() {
        let id = Identity::generate(&mut OsRng).public().to_string();
        let m = encode(&id).unwrap();
        let (clean, side) = raster_path(&m.svg_path(), m.extent(), 2, 3);
        let mut s: u32 = 7;
        let mut next = move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            s >> 8
        };
        for round in 0..60 {
            // A code with blotches painted over it: read correctly or not at all.
            let mut luma = clean.clone();
            for _ in 0..(round * 3) {
                let (x, y) = (next() as usize % side, next() as usize % side);
                let v = if next() % 2 == 0 { 0 } else { 255 };
                for dy in 0..6.min(side - y) {
                    for dx in 0..6.min(side - x) {
                        luma[(y + dy) * side + x + dx] = v;
                    }
                }
            }
            let read = decode(&luma, side, side);
            assert!(read.is_none() || read.as_deref() == Some(id.as_str()));
            // Random small frames of random shapes.
            let (w, h) = (1 + next() as usize % 90, 1 + next() as usize % 90);
            let frame: Vec<u8> = (0..w * h).map(|_| (next() & 0xff) as u8).collect();
            let _ = decode(&frame, w, h);
        }
    }

    #[test]
    fn luma_weights() {
        assert_eq!(luma_of_rgba(&[255, 255, 255, 255, 0, 0, 0, 255]), [255, 0]);
        assert_eq!(luma_of_rgba(&[1, 2, 3]), Vec::<u8>::new());
    }
}
