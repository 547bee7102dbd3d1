//! The ids and names the world mints: provider ids, tokens, slugs. Pure
//! functions of a sequence number or a name, so the same script mints the
//! same world; apart from the records so the encodings are tested alone.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(super) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub(super) fn token(seed: u64, len: usize) -> String {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = splitmix(state);
            ALNUM[(state % ALNUM.len() as u64) as usize] as char
        })
        .collect()
}

/// A provider id for a member number: type prefix (0x002A classic, 0x002C
/// Sales Navigator), the number big-endian in bytes 2..8, then 22 bytes
/// that depend on the number and the kind, base64url without padding.
pub fn encode_member_id(sales_navigator: bool, number: u64) -> String {
    let mut bytes = [0u8; 30];
    bytes[1] = if sales_navigator { 0x2C } else { 0x2A };
    bytes[2..8].copy_from_slice(&number.to_be_bytes()[2..8]);
    let mut state = number ^ if sales_navigator { 0x5A1E5 } else { 0xC1A55 };
    for b in bytes[8..].iter_mut() {
        state = splitmix(state);
        *b = (state >> 24) as u8;
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn slugify(first: &str, last: &str) -> String {
    let mut out = String::new();
    for c in format!("{first} {last}")
        .chars()
        .flat_map(char::to_lowercase)
    {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "member".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_to_the_same_member_number() {
        let classic = encode_member_id(false, 342_491_755);
        let sales = encode_member_id(true, 342_491_755);
        assert!(classic.starts_with("ACoAABRqAms"), "{classic}");
        assert!(sales.starts_with("ACw"), "{sales}");
        assert_eq!(classic.len(), 40);
        assert_eq!(crate::provider::member_number(&classic), Some(342_491_755));
        assert_eq!(crate::provider::member_number(&sales), Some(342_491_755));
        assert_ne!(classic[12..], sales[12..]);
    }

    #[test]
    fn names_become_slugs() {
        assert_eq!(slugify("Julien", "Crépieux"), "julien-crepieux");
    }
}
