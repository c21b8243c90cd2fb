//! A colour per service name, the same on every page and every visit: the name is hashed into a
//! fixed palette, so `checkout` is the same colour in the search results, the scatter plot and
//! every waterfall, without any state to keep.

/// Eleven colours of clearly different hue or lightness, readable as bars on white and as chip
/// text. Pure reds are left out: red means error. Eleven because it is the smallest size at
/// which the built-in shop workload's six services all differ; the order gives them pleasant
/// ones (frontend blue, checkout purple, cart orange, payment green, inventory cyan, shipping
/// brown). Other names may share a colour: the name always shows beside it.
const PALETTE: [&str; 11] = [
    "#a3a51c", "#f07c12", "#2ca02c", "#9467bd", "#1f77b4", "#e377c2", "#7f7f7f", "#d4a017",
    "#17a2b8", "#8c564b", "#2f4b7c",
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
        // The six services of the built-in shop workload (`server/src/workload/shop.rs`).
        let services = [
            "frontend",
            "checkout",
            "cart",
            "payment",
            "inventory",
            "shipping",
        ];
        let mut colors: Vec<_> = services.iter().map(|s| service_color(s)).collect();
        colors.sort();
        colors.dedup();
        assert_eq!(colors.len(), services.len(), "{services:?} share a colour");
        assert_eq!(service_color("frontend"), "#1f77b4");
    }
}
