//! The browser's clock and time zone: the one place the UI reads them, so everything else (the
//! `logic` functions) takes "now" and the zone as arguments and stays testable.

/// Now, in unix nanoseconds.
pub fn now_ns() -> u64 {
    (js_sys::Date::now().max(0.0) as u64).saturating_mul(1_000_000)
}

/// How many minutes the browser's zone is east of UTC at `ns` (daylight saving time included).
pub fn utc_offset_minutes(ns: u64) -> i32 {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64((ns / 1_000_000) as f64));
    -(date.get_timezone_offset() as i32)
}
