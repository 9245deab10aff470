//! Gzip decoding (RFC 1952 around RFC 1951 DEFLATE) for the files `build.rs` stores compressed:
//! our page templates, read once, and our own served files, for the rare client that does not
//! accept gzip. Only our own build output passes through here, never client input; decoding
//! still fails cleanly (an error, never a panic) on anything malformed.
//!
//! A plain canonical-Huffman decoder in the manner of zlib's `puff.c`: small rather than fast,
//! since it runs on a few kilobytes at a time. The gzip trailer's length is checked, its CRC-32
//! is not (the unit tests compare every embedded file with its source instead).

use std::fmt;

/// Why a gzip member could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum InflateError {
    Header,
    Truncated,
    BlockType,
    StoredLength,
    Code,
    Distance,
    Length,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::Header => "not a gzip member with DEFLATE data",
            InflateError::Truncated => "data ends early",
            InflateError::BlockType => "invalid block type",
            InflateError::StoredLength => "stored block length does not match its complement",
            InflateError::Code => "invalid Huffman code",
            InflateError::Distance => "distance reaches before the start of the output",
            InflateError::Length => "decoded length differs from the gzip trailer",
        })
    }
}

impl std::error::Error for InflateError {}

type Result<T> = std::result::Result<T, InflateError>;

/// The decoded contents of one gzip member.
pub(super) fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let [0x1f, 0x8b, 8, flags, _, _, _, _, _, _, ..] = *data else {
        return Err(InflateError::Header);
    };
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = data.get(at..at + 2).ok_or(InflateError::Header)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = data
                .get(at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0));
            at += end.ok_or(InflateError::Header)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    let deflate = data.get(at..).ok_or(InflateError::Header)?;
    let (out, used) = inflate(deflate)?;
    let trailer = deflate.get(used..used + 8).ok_or(InflateError::Truncated)?;
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if size != out.len() as u32 {
        return Err(InflateError::Length);
    }
    Ok(out)
}

/// Bits read least significant first, as DEFLATE packs them.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
    buffer: u32,
    count: u32,
}

impl Bits<'_> {
    fn take(&mut self, n: u32) -> Result<u32> {
        while self.count < n {
            let byte = *self.data.get(self.at).ok_or(InflateError::Truncated)?;
            self.at += 1;
            self.buffer |= u32::from(byte) << self.count;
            self.count += 8;
        }
        let value = self.buffer & ((1u32 << n) - 1);
        self.buffer >>= n;
        self.count -= n;
        Ok(value)
    }
}

/// A canonical Huffman code: how many codes have each length, and the symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    /// From the code length of each symbol (0: unused). Over-subscribed sets are refused;
    /// incomplete ones are allowed, as a distance code of one symbol is.
    fn new(lengths: &[u8]) -> Result<Huffman> {
        let mut counts = [0u16; 16];
        for &len in lengths {
            counts[usize::from(len)] += 1;
        }
        let mut left: i32 = 1;
        for &count in &counts[1..] {
            left = left * 2 - i32::from(count);
            if left < 0 {
                return Err(InflateError::Code);
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                symbols[usize::from(offsets[usize::from(len)])] = symbol as u16;
                offsets[usize::from(len)] += 1;
            }
        }
        Ok(Huffman { counts, symbols })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.counts[len]);
            if code - first < count {
                return self
                    .symbols
                    .get((index + code - first) as usize)
                    .copied()
                    .ok_or(InflateError::Code);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(InflateError::Code)
    }
}

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which a dynamic block lists the code lengths of its code-length code.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Raw DEFLATE data: the output and how many input bytes it took (to the byte boundary).
fn inflate(data: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut bits = Bits {
        data,
        at: 0,
        buffer: 0,
        count: 0,
    };
    let mut out = Vec::with_capacity(data.len() * 4);
    loop {
        let last = bits.take(1)? == 1;
        match bits.take(2)? {
            0 => stored(&mut bits, &mut out)?,
            1 => {
                let (lengths, distances) = fixed_codes()?;
                codes(&mut bits, &mut out, &lengths, &distances)?;
            }
            2 => {
                let (lengths, distances) = dynamic_codes(&mut bits)?;
                codes(&mut bits, &mut out, &lengths, &distances)?;
            }
            _ => return Err(InflateError::BlockType),
        }
        if last {
            return Ok((out, bits.at));
        }
    }
}

fn stored(bits: &mut Bits<'_>, out: &mut Vec<u8>) -> Result<()> {
    // The block starts at the next byte; the bits left in the buffer are padding.
    bits.buffer = 0;
    bits.count = 0;
    let header = bits
        .data
        .get(bits.at..bits.at + 4)
        .ok_or(InflateError::Truncated)?;
    let len = u16::from_le_bytes([header[0], header[1]]);
    if len != !u16::from_le_bytes([header[2], header[3]]) {
        return Err(InflateError::StoredLength);
    }
    let start = bits.at + 4;
    let block = bits
        .data
        .get(start..start + usize::from(len))
        .ok_or(InflateError::Truncated)?;
    out.extend_from_slice(block);
    bits.at = start + usize::from(len);
    Ok(())
}

fn fixed_codes() -> Result<(Huffman, Huffman)> {
    let mut lengths = [8u8; 288];
    lengths[144..256].fill(9);
    lengths[256..280].fill(7);
    Ok((Huffman::new(&lengths)?, Huffman::new(&[5u8; 30])?))
}

fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman)> {
    let literal_count = bits.take(5)? as usize + 257;
    let distance_count = bits.take(5)? as usize + 1;
    let code_length_count = bits.take(4)? as usize + 4;
    if literal_count > 286 || distance_count > 30 {
        return Err(InflateError::Code);
    }
    let mut code_lengths = [0u8; 19];
    for &symbol in &CODE_LENGTH_ORDER[..code_length_count] {
        code_lengths[symbol] = bits.take(3)? as u8;
    }
    let code_length_code = Huffman::new(&code_lengths)?;
    let mut lengths = vec![0u8; literal_count + distance_count];
    let mut filled = 0;
    while filled < lengths.len() {
        let symbol = code_length_code.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => {
                let previous = *lengths[..filled].last().ok_or(InflateError::Code)?;
                (previous, 3 + bits.take(2)? as usize)
            }
            17 => (0, 3 + bits.take(3)? as usize),
            _ => (0, 11 + bits.take(7)? as usize),
        };
        let end = filled + repeat;
        lengths
            .get_mut(filled..end)
            .ok_or(InflateError::Code)?
            .fill(value);
        filled = end;
    }
    if lengths[256] == 0 {
        return Err(InflateError::Code); // no end-of-block code
    }
    let (literals, distances) = lengths.split_at(literal_count);
    Ok((Huffman::new(literals)?, Huffman::new(distances)?))
}

fn codes(
    bits: &mut Bits<'_>,
    out: &mut Vec<u8>,
    lengths: &Huffman,
    distances: &Huffman,
) -> Result<()> {
    loop {
        let symbol = usize::from(lengths.decode(bits)?);
        match symbol {
            0..=255 => out.push(symbol as u8),
            256 => return Ok(()),
            _ => {
                let index = symbol - 257;
                let base = *LENGTH_BASE.get(index).ok_or(InflateError::Code)?;
                let len = usize::from(base) + bits.take(u32::from(LENGTH_EXTRA[index]))? as usize;
                let index = usize::from(distances.decode(bits)?);
                let base = *DISTANCE_BASE.get(index).ok_or(InflateError::Code)?;
                let distance =
                    usize::from(base) + bits.take(u32::from(DISTANCE_EXTRA[index]))? as usize;
                if distance > out.len() {
                    return Err(InflateError::Distance);
                }
                // Byte by byte: a copy may overlap what it writes (distance < length).
                let from = out.len() - distance;
                for i in 0..len {
                    out.push(out[from + i]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};
    use std::io::Write;

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::new(level));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Text, repetitive data (long back-references, overlapping copies) and noise.
    fn samples() -> Vec<Vec<u8>> {
        let text = include_bytes!("../../README.md").to_vec();
        let mut noise = vec![0u8; 70_000];
        let mut state = 0x2545_f491_u32;
        for byte in &mut noise {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *byte = state as u8;
        }
        vec![
            Vec::new(),
            b"a".to_vec(),
            b"abcabcabcabcabcabcabcabcabc".to_vec(),
            vec![b'x'; 100_000],
            text,
            noise,
        ]
    }

    /// Level 0 gives stored blocks (noise beyond 64 KiB: several), level 1 small inputs fixed
    /// codes, level 9 dynamic ones: every kind of block.
    #[test]
    fn decodes_what_zlib_encodes_at_every_level() {
        for data in samples() {
            for level in [0, 1, 6, 9] {
                assert_eq!(gunzip(&gzip(&data, level)).unwrap(), data, "level {level}");
            }
        }
    }

    #[test]
    fn reads_past_optional_header_fields() {
        let data = b"named and commented".to_vec();
        let mut encoder = GzBuilder::new()
            .filename("x.txt")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::best());
        encoder.write_all(&data).unwrap();
        assert_eq!(gunzip(&encoder.finish().unwrap()).unwrap(), data);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let good = gzip(include_bytes!("../../README.md"), 9);
        assert_eq!(gunzip(b""), Err(InflateError::Header));
        assert_eq!(gunzip(&good[..9]), Err(InflateError::Header));
        let mut other_method = good.clone();
        other_method[2] = 7;
        assert_eq!(gunzip(&other_method), Err(InflateError::Header));
        for cut in [10, 11, 100, good.len() / 2, good.len() - 9, good.len() - 1] {
            assert!(gunzip(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_size = good.clone();
        let last = wrong_size.len() - 1;
        wrong_size[last] ^= 1;
        assert_eq!(gunzip(&wrong_size), Err(InflateError::Length));
        // Every single-byte corruption of the DEFLATE data is decoded or refused, never a panic.
        for at in 10..good.len().min(400) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let _ = gunzip(&bad);
        }
        let reserved_block = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0b111];
        assert_eq!(gunzip(&reserved_block), Err(InflateError::BlockType));
    }
}
