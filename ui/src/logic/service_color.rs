//! A colour per service name, the same on every page and every visit: the name is hashed into a
//! fixed palette, so `checkout` is the same colour in the search results, the scatter plot and
//! every waterfall, without any state to keep.

/// Twenty colours that stay apart from each other and readable as bars on white, with white text
/// on them where a chip needs it. Red shades are left out: red means error.
const PALETTE: [&str; 20] = [
    "#2563eb", "#0d9488", "#d97706", "#7c3aed", "#0891b2", "#65a30d", "#c026d3", "#4f46e5",
    "#059669", "#ca8a04", "#9333ea", "#0284c7", "#16a34a", "#ea580c", "#6d28d9", "#0f766e",
    "#a16207", "#1d4ed8", "#be185d", "#4d7c0f",
];

/// The colour of `service` as a CSS hex colour.
pub fn service_color(service: &str) -> &'static str {
    PALETTE[(fnv1a(service.as_bytes()) % PALETTE.len() as u32) as usize]
}

/// 32-bit FNV-1a: tiny, fast and well spread for short names.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_keeps_its_colour() {
        assert_eq!(service_color("checkout"), service_color("checkout"));
        assert!(service_color("").starts_with('#'));
        // FNV-1a's published test vector, so the mapping never changes by accident.
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }

    #[test]
    fn the_demo_services_get_different_colours() {
        let services = [
            "frontend",
            "checkout",
            "payment",
            "inventory",
            "shipping",
            "email",
        ];
        let mut colors: Vec<_> = services.iter().map(|s| service_color(s)).collect();
        colors.sort();
        colors.dedup();
        assert_eq!(colors.len(), services.len(), "{services:?} share a colour");
    }
}
