//! CRC32C (Castagnoli), table driven: reflected polynomial 0x82F63B78,
//! initial value !0, final xor !0.  `crc32c(b"123456789") == 0xE3069283`.

const POLY: u32 = 0x82F6_3B78;

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// Continue a CRC32C over `data`; `crc` is the raw (not inverted) state.
/// Start with `!0` and invert the result, or use [`crc32c`].
pub fn update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// In GF(2): the 32x32 matrix `mat` (by columns) times `vec`.
fn gf2_times(mat: &[u32; 32], mut vec: u32) -> u32 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(mat: &[u32; 32]) -> [u32; 32] {
    let mut sq = [0u32; 32];
    for (n, s) in sq.iter_mut().enumerate() {
        *s = gf2_times(mat, mat[n]);
    }
    sq
}

/// Continue a CRC32C (raw state, as [`update`]) over `len` zero bytes, in
/// O(log len) steps for a long run: the checksum of a sparse file's holes.
/// A zero byte changes the raw state linearly, so `len` of them are a
/// power of that linear map (zlib's `crc32_combine()` method).
pub fn update_zeros(mut crc: u32, mut len: u64) -> u32 {
    if len <= 4096 {
        return update(crc, &[0u8; 4096][..len as usize]);
    }
    // the map of one zero bit, then of 2, 4, 8 (one byte), 16, ... bits
    let mut op = [0u32; 32];
    op[0] = POLY;
    for (n, o) in op.iter_mut().enumerate().skip(1) {
        *o = 1 << (n - 1);
    }
    op = gf2_square(&gf2_square(&gf2_square(&op)));
    while len != 0 {
        if len & 1 != 0 {
            crc = gf2_times(&op, crc);
        }
        len >>= 1;
        if len != 0 {
            op = gf2_square(&op);
        }
    }
    crc
}

/// CRC32C of `data` (standard: init !0, final xor !0).
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 B.4: 32 bytes of zeroes.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    }

    #[test]
    fn zeros_as_bytes() {
        for n in [0u64, 1, 7, 4096, 4097, 5000, 65536, 100_003] {
            let data = vec![0u8; n as usize];
            for start in [!0u32, 0x1234_5678] {
                assert_eq!(update_zeros(start, n), update(start, &data), "{n} zeros");
            }
        }
        // "123456789" then 1 MiB of zeros then "x"
        let mut all = b"123456789".to_vec();
        all.resize(9 + (1 << 20), 0);
        all.push(b'x');
        let c = update(update_zeros(update(!0, b"123456789"), 1 << 20), b"x");
        assert_eq!(!c, crc32c(&all));
    }

    #[test]
    fn incremental() {
        let s = !update(update(!0, b"1234"), b"56789");
        assert_eq!(s, 0xE306_9283);
    }
}
