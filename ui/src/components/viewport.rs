//! What the virtualised lists (the waterfall, the log list) share: the scrolled box's position
//! and height as signals, measured when it mounts, when it scrolls and when the window resizes,
//! and the range of rows to render from them (`logic::visible_rows`).

use leptos::html::Div;
use leptos::prelude::*;

use crate::logic::visible_rows;

#[derive(Clone, Copy)]
pub struct Viewport {
    pub body: NodeRef<Div>,
    scroll_top: RwSignal<f64>,
    height: RwSignal<f64>,
}

impl Viewport {
    /// Tracks the element `body` will point at. Call [`Viewport::measure`] from its `scroll`
    /// handler.
    pub fn track() -> Viewport {
        let viewport = Viewport {
            body: NodeRef::new(),
            scroll_top: RwSignal::new(0.0),
            // Until measured, assume a tall box: too many rows is harmless, too few a gap.
            height: RwSignal::new(1200.0),
        };
        Effect::new(move |_| {
            if viewport.body.get().is_some() {
                viewport.measure();
            }
        });
        // Window listeners outlive the component unless removed: a resize after leaving the
        // page (a scrollbar appearing on the next one) would otherwise read disposed signals.
        let resize = window_event_listener(leptos::ev::resize, move |_| viewport.measure());
        on_cleanup(move || resize.remove());
        viewport
    }

    pub fn measure(self) {
        if let Some(el) = self.body.get_untracked() {
            self.height.set(f64::from(el.client_height()));
            self.scroll_top.set(f64::from(el.scroll_top()));
        }
    }

    /// The first and one-past-last of `count` rows `row_height` tall to render, `overscan`
    /// beyond either edge of the box.
    pub fn rows(self, count: usize, row_height: f64, overscan: usize) -> (usize, usize) {
        visible_rows(
            self.scroll_top.get(),
            self.height.get(),
            row_height,
            count,
            overscan,
        )
    }

    /// Scrolls so that row `index` is in the middle, if it is not in view already.
    pub fn reveal(self, index: usize, row_height: f64) {
        let Some(el) = self.body.get_untracked() else {
            return;
        };
        let row_top = index as f64 * row_height;
        let (top, height) = (f64::from(el.scroll_top()), f64::from(el.client_height()));
        if row_top < top || row_top + row_height > top + height {
            el.set_scroll_top((row_top - height / 2.0 + row_height / 2.0).max(0.0) as i32);
            self.scroll_top.set(f64::from(el.scroll_top()));
        }
    }
}
