//! Byte-level damage for parser property tests: each edit inserts, removes, flips or truncates at
//! a position taken modulo the current length.

/// Applies `(position, kind, byte)` edits to `bytes` in order.
pub fn mutate_bytes(bytes: &mut Vec<u8>, edits: Vec<(usize, u8, u8)>) {
    for (at, kind, byte) in edits {
        let at = at % (bytes.len() + 1);
        match kind {
            0 => bytes.insert(at, byte),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] ^= byte | 1,
            _ => bytes.truncate(at),
        }
    }
}
