//! The camera for QR scanning: whether `getUserMedia` exists, opening the back camera into a
//! `<video>`, stopping it, and one frame's luma (drawn to an off-page canvas). Decoding is
//! `model::qr::decode`'s, in the worker module (`model::offload::Op::QrDecode`).
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, MediaStream,
    MediaStreamConstraints, MediaStreamTrack,
};

use crate::model::qr::luma_of_rgba;

/// Frames wider than this are scaled down before decoding (speed; a QR code held up to the
/// camera stays readable).
const MAX_FRAME_WIDTH: u32 = 640;

fn media_devices() -> Option<JsValue> {
    let nav = web_sys::window()?.navigator();
    let md = Reflect::get(&nav, &JsValue::from_str("mediaDevices")).ok()?;
    (md.is_object()).then_some(md)
}

/// True where the browser can give a camera stream (`navigator.mediaDevices.getUserMedia`).
pub fn available() -> bool {
    media_devices()
        .and_then(|md| Reflect::get(&md, &JsValue::from_str("getUserMedia")).ok())
        .is_some_and(|f| f.is_function())
}

/// Plain words for a failed `getUserMedia`.
fn explain(e: &JsValue) -> String {
    let name = e
        .dyn_ref::<web_sys::DomException>()
        .map(|d| d.name())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => "Camera access was refused. Allow the camera for \
            this site in the browser's settings, or paste the text instead."
            .into(),
        "NotFoundError" | "OverconstrainedError" => {
            "No camera was found. Paste the text instead.".into()
        }
        "NotReadableError" | "AbortError" => {
            "The camera is busy in another app. Close it there and try again.".into()
        }
        _ => "The camera could not be started. Paste the text instead.".into(),
    }
}

/// Ask for the camera (the back one where there is a choice); the error is in plain words.
pub async fn open() -> Result<MediaStream, String> {
    let md = media_devices()
        .ok_or_else(|| "This browser cannot use a camera here.".to_string())?
        .unchecked_into::<web_sys::MediaDevices>();
    let video = Object::new();
    let _ = Reflect::set(&video, &"facingMode".into(), &"environment".into());
    let c = Object::new();
    let _ = Reflect::set(&c, &"video".into(), &video);
    let _ = Reflect::set(&c, &"audio".into(), &JsValue::FALSE);
    let promise = md
        .get_user_media_with_constraints(c.unchecked_ref::<MediaStreamConstraints>())
        .map_err(|e| explain(&e))?;
    let stream = JsFuture::from(promise).await.map_err(|e| explain(&e))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|_| "The camera could not be started.".to_string())
}

/// Show the stream in the video element and start playing it.
pub fn attach(video: &HtmlVideoElement, stream: &MediaStream) {
    video.set_muted(true);
    let _ = video.set_attribute("playsinline", "");
    video.set_src_object(Some(stream));
    if let Ok(p) = video.play() {
        crate::task::spawn(async move {
            let _ = JsFuture::from(p).await;
        });
    }
}

/// Turn the camera off (every track of the stream).
pub fn stop(stream: &MediaStream) {
    for t in stream.get_tracks().iter() {
        if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
            t.stop();
        }
    }
}

/// An off-page canvas to read frames through.
pub fn canvas() -> Option<HtmlCanvasElement> {
    web_sys::window()?
        .document()?
        .create_element("canvas")
        .ok()?
        .dyn_into()
        .ok()
}

/// The current frame of the video as luma bytes with its width and height (`None` before the
/// first frame).
pub fn frame_luma(
    video: &HtmlVideoElement,
    canvas: &HtmlCanvasElement,
) -> Option<(Vec<u8>, usize, usize)> {
    let (vw, vh) = (video.video_width(), video.video_height());
    if vw == 0 || vh == 0 {
        return None;
    }
    let w = vw.min(MAX_FRAME_WIDTH);
    let h = ((u64::from(vh) * u64::from(w)) / u64::from(vw)).max(1) as u32;
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    let opts = Object::new();
    let _ = Reflect::set(&opts, &"willReadFrequently".into(), &JsValue::TRUE);
    let ctx = canvas
        .get_context_with_context_options("2d", &opts)
        .ok()??
        .dyn_into::<CanvasRenderingContext2d>()
        .ok()?;
    ctx.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, w.into(), h.into())
        .ok()?;
    let data = ctx
        .get_image_data(0.0, 0.0, w.into(), h.into())
        .ok()?
        .data();
    Some((luma_of_rgba(&data), w as usize, h as usize))
}
