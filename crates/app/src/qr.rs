//! QR components: [`QrCode`] draws a text as an inline SVG (one path of dark runs, with a text
//! alternative), [`Scanner`] is the "Scan QR code" button and camera panel that sends frames to
//! the lazily loaded worker module (`model::offload::Op::QrDecode`, so the page links no QR
//! decoder) until it finds a code, then hands its text to the parent and stops the camera.
use gloo_timers::callback::Interval;
use postern_core::b64;
use web_sys::{HtmlCanvasElement, HtmlVideoElement, MediaStream};
use yew::prelude::*;

use crate::model::offload::{Answer, Op};
use crate::model::qr::encode;
use crate::platform::{camera, worker};

/// How often a camera frame is decoded.
const FRAME_MS: u32 = 250;

#[derive(Properties, PartialEq)]
pub struct QrProps {
    /// Element id of the `<svg>`.
    pub id: AttrValue,
    /// The text the code holds.
    pub text: AttrValue,
    /// Its text alternative (what the code holds, in words).
    pub label: AttrValue,
}

/// The QR code of `text` as inline SVG (no canvas, no image URL: the CSP allows neither).
#[function_component]
pub fn QrCode(p: &QrProps) -> Html {
    let drawn = use_memo(p.text.clone(), |t| {
        encode(t).map(|m| (m.extent(), m.svg_path()))
    });
    let Some((n, d)) = drawn.as_ref() else {
        return html! {};
    };
    let n = n.to_string();
    html! {
        <svg id={p.id.clone()} class="qr" viewBox={format!("0 0 {n} {n}")} role="img"
            aria-label={p.label.clone()} data-modules={n.clone()} shape-rendering="crispEdges">
            <title>{ p.label.clone() }</title>
            <rect width={n.clone()} height={n} fill="#fff" />
            <path d={d.clone()} fill="#000" />
        </svg>
    }
}

#[derive(Properties, PartialEq)]
pub struct ScannerProps {
    /// Id of the "Scan" button; the panel's parts are `{id}-video`, `{id}-close`, `{id}-status`.
    pub id: AttrValue,
    /// The button's words.
    pub label: AttrValue,
    /// The decoded text of the first code found.
    pub on_text: Callback<String>,
    /// The camera closes when this changes (the route, the contact on screen).
    #[prop_or_default]
    pub reset: AttrValue,
}

pub enum ScanMsg {
    Open,
    Opened(Result<MediaStream, String>),
    Frame,
    /// The worker's answer to the frame in flight.
    Decoded(Result<Answer, String>),
    Close,
}

/// The scan button (only where a camera API exists) and, while open, the camera preview.
pub struct Scanner {
    available: bool,
    open: bool,
    status: Option<String>,
    stream: Option<MediaStream>,
    timer: Option<Interval>,
    canvas: Option<HtmlCanvasElement>,
    video: NodeRef,
    /// The decoding worker (started at the first frame, terminated when the camera stops).
    decoder: Option<worker::Session>,
    /// A frame is with the worker: later frames are skipped until it answers.
    decoding: bool,
}

impl Scanner {
    fn stop(&mut self) {
        self.timer = None;
        self.decoder = None;
        self.decoding = false;
        if let Some(s) = self.stream.take() {
            camera::stop(&s);
        }
        self.open = false;
    }

    /// The decoding worker could not run: stop the camera and say so.
    fn fail(&mut self, why: &str) -> bool {
        self.stop();
        self.status = Some(format!(
            "The QR code reader could not start ({why}). Paste the text instead."
        ));
        true
    }
}

impl Component for Scanner {
    type Message = ScanMsg;
    type Properties = ScannerProps;

    fn create(_ctx: &Context<Self>) -> Self {
        Scanner {
            available: camera::available(),
            open: false,
            status: None,
            stream: None,
            timer: None,
            canvas: None,
            video: NodeRef::default(),
            decoder: None,
            decoding: false,
        }
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        if ctx.props().reset != old.reset {
            self.stop();
            self.status = None;
        }
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            ScanMsg::Open => {
                if self.open {
                    return false;
                }
                self.open = true;
                self.status = Some("Starting the camera…".into());
                crate::task::send(ctx.link(), async { ScanMsg::Opened(camera::open().await) });
            }
            ScanMsg::Opened(Ok(stream)) => {
                let video = self.video.cast::<HtmlVideoElement>();
                match (self.open, video) {
                    (true, Some(v)) => {
                        camera::attach(&v, &stream);
                        self.stream = Some(stream);
                        self.status = Some("Hold the QR code in front of the camera.".into());
                        let link = ctx.link().clone();
                        self.timer = Some(Interval::new(FRAME_MS, move || {
                            link.send_message(ScanMsg::Frame)
                        }));
                    }
                    // Closed while the browser asked for permission.
                    _ => camera::stop(&stream),
                }
            }
            ScanMsg::Opened(Err(e)) => {
                self.stop();
                self.status = Some(e);
            }
            ScanMsg::Frame => {
                let Some(v) = self.video.cast::<HtmlVideoElement>() else {
                    return false;
                };
                if self.decoding || !self.open {
                    return false;
                }
                if self.canvas.is_none() {
                    self.canvas = camera::canvas();
                }
                let Some(c) = &self.canvas else { return false };
                let Some((luma, width, height)) = camera::frame_luma(&v, c) else {
                    return false;
                };
                if self.decoder.is_none() {
                    let link = ctx.link().clone();
                    match worker::Session::start(move |a| link.send_message(ScanMsg::Decoded(a))) {
                        Ok(s) => self.decoder = Some(s),
                        Err(e) => return self.fail(&e),
                    }
                }
                let op = Op::QrDecode {
                    width,
                    height,
                    luma: b64::encode_url(&luma),
                };
                if let Some(Err(e)) = self.decoder.as_ref().map(|d| d.send(&op)) {
                    return self.fail(&e);
                }
                self.decoding = true;
                return false;
            }
            ScanMsg::Decoded(Ok(answer)) => {
                self.decoding = false;
                let Ok(text) = answer.into_result() else {
                    return false;
                };
                self.stop();
                self.status = None;
                ctx.props().on_text.emit(text);
            }
            ScanMsg::Decoded(Err(e)) => return self.fail(&e),
            ScanMsg::Close => {
                self.stop();
                self.status = None;
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        if !self.available {
            return html! {};
        }
        let p = ctx.props();
        let id = p.id.to_string();
        html! {
            <div class="scanner" data-open={if self.open { "true" } else { "false" }}>
                if self.open {
                    <video id={format!("{id}-video")} class="scan-video" ref={self.video.clone()}
                        autoplay=true aria-label="Camera preview for scanning a QR code"></video>
                    <button id={format!("{id}-close")} type="button" class="btn btn-small"
                        onclick={ctx.link().callback(|_| ScanMsg::Close)}>{ "Close camera" }</button>
                } else {
                    <button id={id.clone()} type="button" class="btn btn-small"
                        onclick={ctx.link().callback(|_| ScanMsg::Open)}>{ p.label.clone() }</button>
                }
                <p id={format!("{id}-status")} class="muted small" role="status">{ self.status.clone().unwrap_or_default() }</p>
            </div>
        }
    }

    fn destroy(&mut self, _ctx: &Context<Self>) {
        self.stop();
    }
}
