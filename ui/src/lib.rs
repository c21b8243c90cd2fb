//! otelite's web UI: a leptos client-side app that the server embeds and serves.
//!
//! `server/build.rs` compiles this crate to wasm32, runs wasm-bindgen on it and bakes the result
//! into the binary, so the UI always matches the server it ships with. The app talks to the
//! server only through the JSON API typed in `otelite-api`.
//!
//! Layout: [`app`] is the shell and router, [`pages`] holds one module per route, [`api`] the
//! typed fetch calls and [`logic`] the plain functions (formatting, routes, URLs) that are
//! unit-tested natively. Everything compiles on the host too, so `cargo test -p otelite-ui`
//! and clippy run without a browser; only the wasm entry point is wasm32-only.

pub mod api;
pub mod app;
pub mod clock;
pub mod components;
pub mod logic;
pub mod pages;

/// Renders the app into `<body>`.
pub fn mount() {
    leptos::mount::mount_to_body(app::App);
}

/// The wasm entry point, run by wasm-bindgen's `init()` once the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    mount();
}
