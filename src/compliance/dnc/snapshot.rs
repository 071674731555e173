//! The snapshot file: every list of a [`DncRegistry`] with its download dates and its encoded
//! areas written as they are held in memory, so a restart reopens the registry by reading
//! (no re-parsing, no re-encoding). The file ends with a checksum; a damaged or foreign file is
//! refused with an error, never half-loaded.
//!
//! Layout (little-endian): magic, list count; per list: name, dates, areas; per area: NPA,
//! block table (800 × 8 bytes), word count, words; then the checksum of everything before it.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use chrono::NaiveDate;

use super::number_set::{AreaSet, BLOCK_WORDS, BLOCKS, Block, NumberSet};
use super::{DncError, DncList, DncRegistry};

const MAGIC: &[u8; 12] = b"OUTDIAL-DNC2";

/// A running checksum over the bytes written or read (FNV-1a over 8-byte words).
#[derive(Default)]
struct Checksum(u64);

impl Checksum {
    fn add(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            hash = (hash ^ u64::from_le_bytes(word)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }
}

struct Writer<W: Write> {
    out: W,
    sum: Checksum,
}

impl<W: Write> Writer<W> {
    fn bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sum.add(bytes);
        self.out.write_all(bytes)
    }
    fn u16(&mut self, v: u16) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
}

struct Reader<R: Read> {
    input: R,
    sum: Checksum,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, buffer: &mut [u8]) -> Result<(), DncError> {
        self.input.read_exact(buffer)?;
        self.sum.add(buffer);
        Ok(())
    }
    fn u16(&mut self) -> Result<u16, DncError> {
        let mut b = [0; 2];
        self.bytes(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn u32(&mut self) -> Result<u32, DncError> {
        let mut b = [0; 4];
        self.bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, DncError> {
        let mut b = [0; 8];
        self.bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

fn bad(message: impl Into<String>) -> DncError {
    DncError::Snapshot(message.into())
}

impl DncRegistry {
    /// Writes the snapshot to `path` (through a temporary file renamed into place).
    pub fn write_snapshot(&self, path: &Path) -> Result<(), DncError> {
        let temporary = path.with_extension("tmp");
        let mut w =
            Writer { out: BufWriter::with_capacity(1 << 20, File::create(&temporary)?), sum: Checksum::default() };
        w.bytes(MAGIC)?;
        w.u32(self.lists().count() as u32)?;
        for (name, list) in self.lists() {
            w.u32(name.len() as u32)?;
            w.bytes(name.as_bytes())?;
            w.u32(list.downloaded.len() as u32)?;
            for (&npa, date) in &list.downloaded {
                w.u16(npa)?;
                w.u32(date.to_epoch_days() as u32)?;
            }
            let areas: Vec<(usize, &AreaSet)> =
                list.numbers.areas.iter().enumerate().filter_map(|(npa, a)| a.as_deref().map(|a| (npa, a))).collect();
            w.u32(areas.len() as u32)?;
            for (npa, area) in areas {
                w.u16(npa as u16)?;
                w.u32(area.len)?;
                let mut table = Vec::with_capacity(BLOCKS * 8);
                for block in &area.blocks {
                    table.extend_from_slice(&block.offset.to_le_bytes());
                    table.extend_from_slice(&block.count.to_le_bytes());
                    table.extend_from_slice(&[block.low_bits, block.kind]);
                }
                w.bytes(&table)?;
                w.u64(area.words.len() as u64)?;
                let words: Vec<u8> = area.words.iter().flat_map(|w| w.to_le_bytes()).collect();
                w.bytes(&words)?;
            }
        }
        let sum = w.sum.0;
        w.out.write_all(&sum.to_le_bytes())?;
        w.out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    }

    /// Reopens a snapshot written by [`DncRegistry::write_snapshot`].
    pub fn read_snapshot(path: &Path) -> Result<DncRegistry, DncError> {
        let mut r = Reader { input: BufReader::with_capacity(1 << 20, File::open(path)?), sum: Checksum::default() };
        let mut magic = [0u8; 12];
        r.bytes(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not an outdial DNC snapshot"));
        }
        let mut registry = DncRegistry::new();
        for _ in 0..r.u32()? {
            let name_len = r.u32()? as usize;
            if name_len > 256 {
                return Err(bad("list name too long"));
            }
            let mut name = vec![0u8; name_len];
            r.bytes(&mut name)?;
            let name = String::from_utf8(name).map_err(|_| bad("list name is not UTF-8"))?;
            let mut list = DncList::default();
            for _ in 0..r.u32()? {
                let npa = r.u16()?;
                let date = NaiveDate::from_epoch_days(r.u32()? as i32).ok_or_else(|| bad("bad date"))?;
                list.downloaded.insert(npa, date);
            }
            let mut areas: Vec<Option<Box<AreaSet>>> = vec![None; 1000];
            for _ in 0..r.u32()? {
                let npa = usize::from(r.u16()?);
                if !(200..1000).contains(&npa) || areas[npa].is_some() {
                    return Err(bad("bad or repeated area code"));
                }
                areas[npa] = Some(Box::new(read_area(&mut r)?));
            }
            list.numbers = NumberSet::from_areas(areas);
            *registry.list_mut(&name) = list;
        }
        let expected = r.sum.0;
        let mut sum = [0u8; 8];
        r.input.read_exact(&mut sum)?;
        if u64::from_le_bytes(sum) != expected {
            return Err(bad("checksum does not match"));
        }
        Ok(registry)
    }
}

fn read_area<R: Read>(r: &mut Reader<R>) -> Result<AreaSet, DncError> {
    let len = r.u32()?;
    let mut table = vec![0u8; BLOCKS * 8];
    r.bytes(&mut table)?;
    let word_count = r.u64()? as usize;
    if word_count > BLOCKS * BLOCK_WORDS {
        return Err(bad("area too large"));
    }
    let mut raw = vec![0u8; word_count * 8];
    r.bytes(&mut raw)?;
    let words: Vec<u64> = raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    let mut blocks = Vec::with_capacity(BLOCKS);
    let mut counted = 0u32;
    for entry in table.chunks_exact(8) {
        let block = Block {
            offset: u32::from_le_bytes(entry[0..4].try_into().expect("4 bytes")),
            count: u16::from_le_bytes(entry[4..6].try_into().expect("2 bytes")),
            low_bits: entry[6],
            kind: entry[7],
        };
        if !block_fits(block, word_count) {
            return Err(bad("a block lies outside its area"));
        }
        counted += u32::from(block.count);
        blocks.push(block);
    }
    if counted != len {
        return Err(bad("area count does not match its blocks"));
    }
    Ok(AreaSet { blocks, words, len })
}

/// A lookup in a block read from disk must stay inside the area's words.
fn block_fits(block: Block, word_count: usize) -> bool {
    let end = block.offset as usize + super::number_set::block_words(block);
    block.count <= 10_000 && block.low_bits <= 13 && block.kind <= 2 && end <= word_count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::dnc::{ImportOptions, ListKind, NATIONAL, STATE};
    use crate::compliance::number::parse;

    #[test]
    fn a_snapshot_reopens_the_same_registry_and_refuses_damage() {
        let mut registry = DncRegistry::new();
        let mut text = String::new();
        for i in 0..20_000u64 {
            text.push_str(&format!("{}\n", 2_012_000_000 + i * 37 % 8_000_000));
        }
        let on = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let options =
            ImportOptions { list: NATIONAL.into(), kind: ListKind::Full, downloaded_on: on, area_codes: vec![] };
        registry.import(text.as_bytes(), &options, &mut |_| {}).unwrap();
        let state = ImportOptions { list: STATE.into(), ..options };
        registry.import("3055550100\n".as_bytes(), &state, &mut |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dnc.snapshot");
        registry.write_snapshot(&path).unwrap();
        let reopened = DncRegistry::read_snapshot(&path).unwrap();
        assert_eq!(reopened, registry);
        assert!(reopened.list(STATE).unwrap().numbers.contains(parse("3055550100").unwrap()));

        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(DncRegistry::read_snapshot(&path).is_err());
        std::fs::write(&path, b"not a snapshot").unwrap();
        assert!(DncRegistry::read_snapshot(&path).is_err());
    }
}
