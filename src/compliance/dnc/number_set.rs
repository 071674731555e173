//! A compact set of NANP numbers able to hold the whole National DNC registry (258.5 M
//! numbers) in about 5-6 bits per number.
//!
//! Layout: per area code (NPA), one block per exchange (NXX 200-999) holding the line numbers
//! 0-9999 of that exchange, each block encoded on its own as whichever is smaller:
//! - Elias-Fano: `n` numbers in a universe of 10,000 take `n * (2 + log2(10000 / n))` bits;
//!   a lookup jumps to the nearest of the block's select samples (every 64th bucket) and
//!   scans one or two words of upper bits with popcounts;
//! - a plain bitmap (157 words) for dense blocks.
//!
//! Edits go through an [`AreaBits`]: an area decoded to one bitmap per block (1.26 MB), edited,
//! then encoded again. This module owns only the set; lists, dates and files are `dnc`'s.

use super::super::number::NanpNumber;

/// Exchanges 200-999: NXX below 200 never exists.
pub(crate) const BLOCKS: usize = 800;
const LINES: u32 = 10_000;
/// Words of a block bitmap (10,048 bits).
pub(crate) const BLOCK_WORDS: usize = 157;

const EMPTY: u8 = 0;
const ELIAS_FANO: u8 = 1;
const BITMAP: u8 = 2;

/// Where one exchange's lines are encoded inside its area's words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) offset: u32,
    pub(crate) count: u16,
    pub(crate) low_bits: u8,
    pub(crate) kind: u8,
}

/// One area code's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AreaSet {
    pub(crate) blocks: Vec<Block>,
    pub(crate) words: Vec<u64>,
    pub(crate) len: u32,
}

/// An area decoded for editing: one 10,000-bit bitmap per exchange.
pub struct AreaBits {
    npa: u16,
    bits: Vec<u64>,
}

impl AreaBits {
    pub fn empty(npa: u16) -> Self {
        AreaBits { npa, bits: vec![0; BLOCKS * BLOCK_WORDS] }
    }

    pub fn npa(&self) -> u16 {
        self.npa
    }

    fn slot(number: NanpNumber) -> (usize, u64) {
        let block = usize::from(number.nxx()) - 200;
        let line = usize::from(number.line());
        (block * BLOCK_WORDS + line / 64, 1u64 << (line % 64))
    }

    /// Adds a number of this area; true when it was not there.
    pub fn insert(&mut self, number: NanpNumber) -> bool {
        let (word, bit) = Self::slot(number);
        let was = self.bits[word] & bit != 0;
        self.bits[word] |= bit;
        !was
    }

    /// Removes a number of this area; true when it was there.
    pub fn remove(&mut self, number: NanpNumber) -> bool {
        let (word, bit) = Self::slot(number);
        let was = self.bits[word] & bit != 0;
        self.bits[word] &= !bit;
        was
    }
}

/// The set. Lookups are lock-free reads; edits replace whole areas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSet {
    pub(crate) areas: Vec<Option<Box<AreaSet>>>,
    len: u64,
}

impl Default for NumberSet {
    fn default() -> Self {
        NumberSet { areas: vec![None; 1000], len: 0 }
    }
}

impl NumberSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The area codes holding at least one number.
    pub fn area_codes(&self) -> impl Iterator<Item = u16> + '_ {
        self.areas.iter().enumerate().filter(|(_, a)| a.as_ref().is_some_and(|a| a.len > 0)).map(|(npa, _)| npa as u16)
    }

    /// Bytes of memory the encoded numbers take.
    pub fn heap_bytes(&self) -> usize {
        self.areas
            .iter()
            .flatten()
            .map(|a| a.words.capacity() * 8 + a.blocks.capacity() * size_of::<Block>())
            .sum::<usize>()
            + self.areas.capacity() * size_of::<Option<Box<AreaSet>>>()
    }

    pub fn contains(&self, number: NanpNumber) -> bool {
        let Some(area) = self.areas[usize::from(number.npa())].as_deref() else {
            return false;
        };
        let block = area.blocks[usize::from(number.nxx()) - 200];
        block_contains(&area.words, block, u32::from(number.line()))
    }
}

fn block_contains(words: &[u64], block: Block, line: u32) -> bool {
    match block.kind {
        ELIAS_FANO => ef_contains(words, block, line),
        BITMAP => words[block.offset as usize + line as usize / 64] & (1u64 << (line % 64)) != 0,
        _ => false,
    }
}

impl NumberSet {
    /// Answers many lookups at once, in the order given (`found[i]` for `numbers[i]`).
    ///
    /// Software-pipelined: while number `i` is answered, the block entry of number
    /// `i + ENTRY_AHEAD` and the words number `i + DATA_AHEAD` will read are prefetched, so the
    /// memory reads of about a dozen lookups are in flight at once instead of each lookup
    /// waiting on its own chain of reads. An Elias-Fano lookup reads a select sample, then upper
    /// bits, then low bits, each address depending on the word before; the upper and low words
    /// are prefetched at the place the line's rank most likely puts them (the block's count
    /// scaled by the line), with a margin, so all three are fetched at once. Several times
    /// faster than one `contains` after another on random numbers; on sorted numbers the
    /// prefetches hit cache and cost little.
    pub fn contains_batch(&self, numbers: &[NanpNumber], found: &mut Vec<bool>) {
        found.clear();
        found.reserve(numbers.len());
        for &number in numbers.iter().take(ENTRY_AHEAD) {
            self.prefetch_entry(number);
        }
        for &number in numbers.iter().take(DATA_AHEAD) {
            self.prefetch_data(number);
        }
        for (i, &number) in numbers.iter().enumerate() {
            if let Some(&ahead) = numbers.get(i + ENTRY_AHEAD) {
                self.prefetch_entry(ahead);
            }
            if let Some(&ahead) = numbers.get(i + DATA_AHEAD) {
                self.prefetch_data(ahead);
            }
            found.push(self.contains(number));
        }
    }

    /// Starts fetching the block entry a lookup of `number` reads first.
    fn prefetch_entry(&self, number: NanpNumber) {
        if let Some(area) = self.areas[usize::from(number.npa())].as_deref() {
            prefetch(&area.blocks[usize::from(number.nxx()) - 200]);
        }
    }

    /// Starts fetching the words a lookup of `number` will most likely read.
    fn prefetch_data(&self, number: NanpNumber) {
        let Some(area) = self.areas[usize::from(number.npa())].as_deref() else { return };
        let block = area.blocks[usize::from(number.nxx()) - 200];
        let line = u32::from(number.line());
        let words = &area.words;
        let offset = block.offset as usize;
        match block.kind {
            ELIAS_FANO => {
                let samples = sample_words(block.low_bits);
                let k = ((line >> block.low_bits) as usize).saturating_sub(1) / SAMPLE_EVERY;
                prefetch_word(words, offset + k / 4);
                let count = usize::from(block.count);
                let upper = offset + samples;
                let low = upper + upper_len(u32::from(block.count), block.low_bits).div_ceil(64);
                let end = low + (count * usize::from(block.low_bits)).div_ceil(64);
                // The rank of `line` if the block's lines were spread evenly; the bucket's upper
                // bits sit at `high + rank`, its low bits at `rank * low_bits`. The select scan
                // starts at the sample before the bucket, hence the wider margin behind.
                let rank = count * line as usize / LINES as usize;
                let position = (line >> block.low_bits) as usize + rank;
                prefetch_span(
                    words,
                    upper + position.saturating_sub(MARGIN * 3) / 64,
                    upper + (position + MARGIN) / 64,
                    low,
                );
                let bit = rank * usize::from(block.low_bits);
                let width = MARGIN * usize::from(block.low_bits);
                prefetch_span(words, low + bit.saturating_sub(width) / 64, low + (bit + width) / 64, end);
            }
            BITMAP => prefetch_word(words, offset + line as usize / 64),
            _ => {}
        }
    }

    /// Calls `visit` with every number, in ascending order.
    pub fn for_each(&self, mut visit: impl FnMut(NanpNumber)) {
        for (npa, area) in self.areas.iter().enumerate() {
            let Some(area) = area.as_deref() else { continue };
            for (index, block) in area.blocks.iter().enumerate() {
                let base = (npa as u64 * 1000 + index as u64 + 200) * 10_000;
                decode_block(&area.words, *block, |line| {
                    if let Ok(number) = NanpNumber::from_digits(base + u64::from(line)) {
                        visit(number);
                    }
                });
            }
        }
    }

    /// Decodes one area for editing (an empty one if the set holds none of it).
    pub fn area_bits(&self, npa: u16) -> AreaBits {
        let mut bits = AreaBits::empty(npa);
        if let Some(area) = self.areas[usize::from(npa)].as_deref() {
            for (index, block) in area.blocks.iter().enumerate() {
                let target = &mut bits.bits[index * BLOCK_WORDS..(index + 1) * BLOCK_WORDS];
                decode_block(&area.words, *block, |line| {
                    target[line as usize / 64] |= 1u64 << (line % 64);
                });
            }
        }
        bits
    }

    /// Replaces an area with the edited bits.
    pub fn store_area(&mut self, bits: &AreaBits) {
        let slot = &mut self.areas[usize::from(bits.npa)];
        self.len -= slot.as_ref().map_or(0, |a| u64::from(a.len));
        let area = encode_area(&bits.bits);
        self.len += u64::from(area.len);
        *slot = (area.len > 0).then(|| Box::new(area));
    }

    /// Rebuilds a set from decoded snapshot areas.
    pub(crate) fn from_areas(areas: Vec<Option<Box<AreaSet>>>) -> Self {
        let len = areas.iter().flatten().map(|a| u64::from(a.len)).sum();
        NumberSet { areas, len }
    }
}

/// How far ahead of the lookup being answered `contains_batch` fetches block entries and
/// block words.
const ENTRY_AHEAD: usize = 16;
const DATA_AHEAD: usize = 8;
/// Elements either side of a line's estimated rank that its prefetched words cover.
const MARGIN: usize = 32;

/// Prefetches the cache line of `words[first]` and, when it is another line, that of
/// `words[last]` (clamped to `..end`): the spans are one or two lines long in the blocks that
/// matter (up to 8 low bits per number).
fn prefetch_span(words: &[u64], first: usize, last: usize, end: usize) {
    let last = last.min(end.saturating_sub(1));
    let first = first.min(last);
    let (Some(head), Some(tail)) = (words.get(first), words.get(last)) else { return };
    prefetch(head);
    if (tail as *const u64 as usize) / 64 != (head as *const u64 as usize) / 64 {
        prefetch(tail);
    }
}

fn prefetch_word(words: &[u64], index: usize) {
    if let Some(word) = words.get(index) {
        prefetch(word);
    }
}

/// Asks the CPU to start loading the cache line holding `value` (a hint: no effect on results).
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `value` is a live reference, so the address is valid; a prefetch only hints
        // the cache and never faults or changes memory (SSE is part of the x86_64 baseline).
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

fn encode_area(bits: &[u64]) -> AreaSet {
    let mut area = AreaSet { blocks: Vec::with_capacity(BLOCKS), words: Vec::new(), len: 0 };
    for block_bits in bits.chunks_exact(BLOCK_WORDS) {
        let count: u32 = block_bits.iter().map(|w| w.count_ones()).sum();
        area.len += count;
        area.blocks.push(encode_block(block_bits, count, &mut area.words));
    }
    area.words.shrink_to_fit();
    area
}

/// Low bits per number for `count` numbers of 10,000: floor(log2(10000 / count)).
fn low_bits_for(count: u32) -> u8 {
    (LINES / count).max(1).ilog2() as u8
}

fn upper_len(count: u32, low_bits: u8) -> usize {
    count as usize + ((LINES - 1) >> low_bits) as usize + 1
}

fn encode_block(bits: &[u64], count: u32, words: &mut Vec<u64>) -> Block {
    let offset = words.len() as u32;
    if count == 0 {
        return Block { kind: EMPTY, ..Block::default() };
    }
    let low_bits = low_bits_for(count);
    let ef_bits = count as usize * usize::from(low_bits) + upper_len(count, low_bits) + sample_words(low_bits) * 64;
    if ef_bits >= BLOCK_WORDS * 64 {
        words.extend_from_slice(bits);
        return Block { offset, count: count as u16, low_bits: 0, kind: BITMAP };
    }
    let low_words = (count as usize * usize::from(low_bits)).div_ceil(64);
    let upper_words = upper_len(count, low_bits).div_ceil(64);
    let samples = sample_words(low_bits);
    words.resize(words.len() + samples + upper_words + low_words, 0);
    let (sample_part, rest) = words[offset as usize..].split_at_mut(samples);
    let (upper, low) = rest.split_at_mut(upper_words);
    let mask = (1u32 << low_bits) - 1;
    let mut index = 0usize;
    for (w, &word) in bits.iter().enumerate() {
        let mut rest = word;
        while rest != 0 {
            let line = (w * 64) as u32 + rest.trailing_zeros();
            rest &= rest - 1;
            write_bits(low, index * usize::from(low_bits), low_bits, line & mask);
            let position = (line >> low_bits) as usize + index;
            upper[position / 64] |= 1u64 << (position % 64);
            index += 1;
        }
    }
    write_samples(upper, buckets(low_bits), sample_part);
    Block { offset, count: count as u16, low_bits, kind: ELIAS_FANO }
}

/// Buckets of an Elias-Fano block: one zero of the upper bits ends each.
fn buckets(low_bits: u8) -> usize {
    ((LINES - 1) >> low_bits) as usize + 1
}

/// Words of select samples: the position of every 64th zero of the upper bits, as `u16`s
/// packed four to a word, so a lookup scans at most about two words of upper bits.
fn sample_words(low_bits: u8) -> usize {
    buckets(low_bits).div_ceil(SAMPLE_EVERY).div_ceil(4)
}

const SAMPLE_EVERY: usize = 64;

fn write_samples(upper: &[u64], zeros: usize, samples: &mut [u64]) {
    let mut seen = 0usize;
    for (w, &word) in upper.iter().enumerate() {
        let mut free = !word;
        while free != 0 && seen < zeros {
            let position = w * 64 + free.trailing_zeros() as usize;
            free &= free - 1;
            if seen.is_multiple_of(SAMPLE_EVERY) {
                let k = seen / SAMPLE_EVERY;
                samples[k / 4] |= (position as u64) << (16 * (k % 4));
            }
            seen += 1;
        }
    }
}

/// Position of the `j`-th zero of the upper bits, starting from the nearest sample.
fn select_zero_sampled(upper: &[u64], samples: &[u64], j: usize) -> Option<usize> {
    let k = j / SAMPLE_EVERY;
    let start = ((*samples.get(k / 4)? >> (16 * (k % 4))) & 0xffff) as usize;
    let mut remaining = (j % SAMPLE_EVERY) as u32;
    let mut w = start / 64;
    let mut free = !*upper.get(w)? & (u64::MAX << (start % 64));
    loop {
        let count = free.count_ones();
        if remaining < count {
            return Some(w * 64 + select_in_word(free, remaining) as usize);
        }
        remaining -= count;
        w += 1;
        free = !*upper.get(w)?;
    }
}

/// `SELECT_IN_BYTE[byte + 256 * r]`: position of the `r`-th set bit of `byte` (8 if none).
const SELECT_IN_BYTE: [u8; 2048] = {
    let mut table = [8u8; 2048];
    let mut byte = 0;
    while byte < 256 {
        let (mut bit, mut rank) = (0, 0);
        while bit < 8 {
            if byte & (1 << bit) != 0 {
                table[byte + 256 * rank] = bit as u8;
                rank += 1;
            }
            bit += 1;
        }
        byte += 1;
    }
    table
};

/// Position of the `r`-th set bit of `word` (which has more than `r` set bits), without
/// branches: byte-wise prefix popcounts find the byte, a table the bit (Vigna's broadword
/// select).
fn select_in_word(word: u64, r: u32) -> u32 {
    const L8: u64 = 0x0101_0101_0101_0101;
    const H8: u64 = 0x8080_8080_8080_8080;
    let mut sums = word - ((word >> 1) & 0x5555_5555_5555_5555);
    sums = (sums & 0x3333_3333_3333_3333) + ((sums >> 2) & 0x3333_3333_3333_3333);
    sums = ((sums + (sums >> 4)) & 0x0f0f_0f0f_0f0f_0f0f).wrapping_mul(L8);
    // Bytes whose inclusive prefix count is at most r: the r-th bit lies after them.
    let below = (((u64::from(r) * L8) | H8).wrapping_sub(sums) & H8).count_ones() * 8;
    let place = below.min(56);
    let before = (sums << 8 >> place) & 0xff;
    let rank = (u64::from(r) - before) as usize;
    u32::from(SELECT_IN_BYTE[((word >> place) & 0xff) as usize + 256 * rank.min(7)]) + place
}

fn write_bits(words: &mut [u64], at: usize, width: u8, value: u32) {
    if width == 0 {
        return;
    }
    let (word, shift) = (at / 64, at % 64);
    words[word] |= u64::from(value) << shift;
    if shift + usize::from(width) > 64 {
        words[word + 1] |= u64::from(value) >> (64 - shift);
    }
}

fn read_bits(words: &[u64], at: usize, width: u8) -> u32 {
    if width == 0 {
        return 0;
    }
    let (word, shift) = (at / 64, at % 64);
    let mut value = words[word] >> shift;
    if shift + usize::from(width) > 64 {
        value |= words[word + 1] << (64 - shift);
    }
    (value & ((1u64 << width) - 1)) as u32
}

/// How many words a block takes.
pub(crate) fn block_words(block: Block) -> usize {
    match block.kind {
        ELIAS_FANO => {
            sample_words(block.low_bits)
                + (usize::from(block.count) * usize::from(block.low_bits)).div_ceil(64)
                + upper_len(u32::from(block.count), block.low_bits).div_ceil(64)
        }
        BITMAP => BLOCK_WORDS,
        _ => 0,
    }
}

/// The sub-slices of one Elias-Fano block: select samples, upper bits, low bits.
fn ef_parts(words: &[u64], block: Block) -> (&[u64], &[u64], &[u64]) {
    let count = usize::from(block.count);
    let samples = sample_words(block.low_bits);
    let low_words = (count * usize::from(block.low_bits)).div_ceil(64);
    let upper_words = upper_len(u32::from(block.count), block.low_bits).div_ceil(64);
    let start = block.offset as usize;
    let (sample_part, rest) = words[start..start + samples + upper_words + low_words].split_at(samples);
    let (upper, low) = rest.split_at(upper_words);
    (sample_part, upper, low)
}

/// Where the bucket of `line` starts in the upper bits, and the index of its first element.
fn ef_bucket(samples: &[u64], upper: &[u64], block: Block, line: u32) -> Option<(usize, usize)> {
    let high = line >> block.low_bits;
    // The bucket `high` starts right after the high-th zero of the upper bits.
    let position = if high == 0 { 0 } else { select_zero_sampled(upper, samples, high as usize - 1)? + 1 };
    Some((position, position - high as usize))
}

fn ef_contains(words: &[u64], block: Block, line: u32) -> bool {
    let (samples, upper, _) = ef_parts(words, block);
    ef_bucket(samples, upper, block, line).is_some_and(|bucket| ef_scan(words, block, line, bucket))
}

/// Scans the bucket starting at upper-bits `position` (element `index`) for `line`.
fn ef_scan(words: &[u64], block: Block, line: u32, (mut position, mut index): (usize, usize)) -> bool {
    let (_, upper, low) = ef_parts(words, block);
    let wanted_low = line & ((1u32 << block.low_bits) - 1);
    while index < usize::from(block.count) {
        if upper[position / 64] & (1u64 << (position % 64)) == 0 {
            return false;
        }
        let value = read_bits(low, index * usize::from(block.low_bits), block.low_bits);
        if value >= wanted_low {
            return value == wanted_low;
        }
        position += 1;
        index += 1;
    }
    false
}

fn decode_block(words: &[u64], block: Block, mut visit: impl FnMut(u32)) {
    match block.kind {
        ELIAS_FANO => {
            let (_, upper, low) = ef_parts(words, block);
            let mut index = 0usize;
            for (w, &word) in upper.iter().enumerate() {
                let mut rest = word;
                while rest != 0 && index < usize::from(block.count) {
                    let position = w * 64 + rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let high = (position - index) as u32;
                    let value = read_bits(low, index * usize::from(block.low_bits), block.low_bits);
                    visit((high << block.low_bits) | value);
                    index += 1;
                }
            }
        }
        BITMAP => {
            let bits = &words[block.offset as usize..block.offset as usize + BLOCK_WORDS];
            for (w, &word) in bits.iter().enumerate() {
                let mut rest = word;
                while rest != 0 {
                    visit((w * 64) as u32 + rest.trailing_zeros());
                    rest &= rest - 1;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn build(numbers: &[u64]) -> NumberSet {
        let mut set = NumberSet::new();
        let mut by_area: std::collections::BTreeMap<u16, AreaBits> = Default::default();
        for &digits in numbers {
            let number = NanpNumber::from_digits(digits).unwrap();
            by_area.entry(number.npa()).or_insert_with(|| AreaBits::empty(number.npa())).insert(number);
        }
        for bits in by_area.values() {
            set.store_area(bits);
        }
        set
    }

    #[test]
    fn dense_sparse_and_empty_blocks_answer_exactly() {
        // 201-555: every other line (dense → bitmap); 201-556: 3 lines; 202-*: one line.
        let mut numbers: Vec<u64> = (0..10_000).step_by(2).map(|l| 2_015_550_000 + l).collect();
        numbers.extend([2_015_560_000, 2_015_565_000, 2_015_569_999, 2_022_000_001]);
        let set = build(&numbers);
        assert_eq!(set.len(), numbers.len() as u64);
        let members: BTreeSet<u64> = numbers.iter().copied().collect();
        for digits in (2_015_549_990..2_015_570_010).chain(2_022_000_000..2_022_000_003) {
            let number = NanpNumber::from_digits(digits).unwrap();
            assert_eq!(set.contains(number), members.contains(&digits), "{digits}");
        }
        let mut seen = Vec::new();
        set.for_each(|n| seen.push(n.digits()));
        assert_eq!(seen, members.into_iter().collect::<Vec<_>>());
        assert_eq!(set.area_codes().collect::<Vec<_>>(), [201, 202]);
    }

    #[test]
    fn select_in_word_finds_every_set_bit() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word = x & (x >> 3);
            let positions: Vec<u32> = (0..64).filter(|b| word & (1u64 << b) != 0).collect();
            for (r, &position) in positions.iter().enumerate() {
                assert_eq!(select_in_word(word, r as u32), position, "{word:#x} r={r}");
            }
        }
        assert_eq!(select_in_word(u64::MAX, 63), 63);
        assert_eq!(select_in_word(1u64 << 63, 0), 63);
    }

    #[test]
    fn editing_an_area_keeps_the_rest() {
        let mut set = build(&[2_015_550_123, 2_015_550_124, 3_035_550_000]);
        let mut bits = set.area_bits(201);
        assert!(bits.remove(NanpNumber::from_digits(2_015_550_123).unwrap()));
        assert!(bits.insert(NanpNumber::from_digits(2_019_999_999).unwrap()));
        assert!(!bits.insert(NanpNumber::from_digits(2_015_550_124).unwrap()));
        set.store_area(&bits);
        let has = |d: u64| set.contains(NanpNumber::from_digits(d).unwrap());
        assert!(!has(2_015_550_123) && has(2_015_550_124) && has(2_019_999_999));
        assert!(has(3_035_550_000));
        assert_eq!(set.len(), 3);
    }

    proptest! {
        /// `contains_batch` (prefetching ahead) answers exactly as `contains` does, in order,
        /// for random sets (sparse Elias-Fano, dense bitmap and empty exchanges in a few area
        /// codes) and random probes of any batch length, including areas the set lacks.
        #[test]
        fn contains_batch_agrees_with_contains(
            exchanges in proptest::collection::vec((0u64..3, 200u64..1000, 1u64..40), 1..6),
            seed in any::<u64>(),
            probe_count in 0usize..600,
        ) {
            let mut x = seed | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let npas = [201u64, 415, 999];
            let mut numbers = Vec::new();
            for &(area, exchange, every) in &exchanges {
                let base = npas[area as usize] * 10_000_000 + exchange * 10_000;
                // Lines with mean gap `every`: dense (bitmap) for small gaps, Elias-Fano else.
                let mut line = next() % every;
                while line < 10_000 {
                    numbers.push(base + line);
                    line += 1 + next() % (2 * every);
                }
            }
            let set = build(&numbers);
            let probes: Vec<NanpNumber> = (0..probe_count)
                .map(|i| {
                    let digits = if i % 2 == 0 && !numbers.is_empty() {
                        // Near a member: hits and close misses.
                        let member = numbers[(next() % numbers.len() as u64) as usize];
                        let line = (member % 10_000 + next() % 3).min(9_999);
                        member - member % 10_000 + line
                    } else {
                        [201u64, 415, 999, 212][(next() % 4) as usize] * 10_000_000
                            + (200 + next() % 800) * 10_000
                            + next() % 10_000
                    };
                    NanpNumber::from_digits(digits).unwrap()
                })
                .collect();
            let mut found = vec![true; 3];
            set.contains_batch(&probes, &mut found);
            prop_assert_eq!(found.len(), probes.len());
            for (number, found) in probes.iter().zip(&found) {
                prop_assert_eq!(*found, set.contains(*number), "{}", number.digits());
            }
        }

        #[test]
        fn the_set_agrees_with_a_btreeset(
            lines in proptest::collection::vec(0u64..10_000, 0..3000),
            exchange in 200u64..1000,
            density in 1usize..8,
        ) {
            let numbers: Vec<u64> = lines.iter().step_by(density)
                .map(|l| 2_120_000_000 + exchange * 10_000 + l).collect();
            let set = build(&numbers);
            let members: BTreeSet<u64> = numbers.iter().copied().collect();
            prop_assert_eq!(set.len(), members.len() as u64);
            let probes: Vec<NanpNumber> = (0..10_000u64)
                .map(|line| NanpNumber::from_digits(2_120_000_000 + exchange * 10_000 + line).unwrap())
                .collect();
            let mut found = Vec::new();
            set.contains_batch(&probes, &mut found);
            for (number, found) in probes.iter().zip(&found) {
                prop_assert_eq!(*found, members.contains(&number.digits()));
            }
            for line in 0..10_000u64 {
                let digits = 2_120_000_000 + exchange * 10_000 + line;
                let number = NanpNumber::from_digits(digits).unwrap();
                prop_assert_eq!(set.contains(number), members.contains(&digits));
            }
        }
    }
}
