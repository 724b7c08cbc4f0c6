//! Helpers shared by the integration tests of ckpt-image.

use ckpt_image::type_name;

/// (offset, type) of every record of `buf`, walked by the len fields
/// alone, so that it works on images the decoder refuses.
pub fn offsets(buf: &[u8]) -> Vec<(usize, u32)> {
    let mut v = Vec::new();
    let mut o = 0;
    while o + 8 <= buf.len() {
        let t = u32::from_le_bytes(buf[o..o + 4].try_into().unwrap());
        let l = u32::from_le_bytes(buf[o + 4..o + 8].try_into().unwrap()) as usize;
        v.push((o, t));
        if l < 8 {
            break;
        }
        o += l;
    }
    v
}

/// Offset of the `nth` record of type `t` in `buf`.
pub fn off_of(buf: &[u8], t: u32, nth: usize) -> usize {
    offsets(buf)
        .into_iter()
        .filter(|x| x.1 == t)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {} #{nth}", type_name(t)))
        .0
}
