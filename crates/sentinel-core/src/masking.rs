//! Masking of free-text personal data; ID numbers, phones and names mask themselves.

/// Keeps the start of an address (district and street level, at most six characters, never more
/// than half) and hides the rest: `苏州市姑苏区平江路100号` → `苏州市姑苏区****`.
pub fn mask_address(address: &str) -> String {
    let chars: Vec<char> = address.trim().chars().collect();
    let keep = (chars.len() / 2).min(6);
    let mut out: String = chars[..keep].iter().collect();
    out.push_str("****");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_keep_only_their_start() {
        assert_eq!(super::mask_address("苏州市姑苏区平江路100号"), "苏州市姑苏区****");
        assert_eq!(super::mask_address("平江路1号"), "平江****");
        assert_eq!(super::mask_address(""), "****");
    }
}
