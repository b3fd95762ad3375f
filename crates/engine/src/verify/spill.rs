//! Row records of one side of a table, spread over partitions by key and
//! spilled to anonymous temporary files past a memory budget.
//!
//! The files are created already unlinked (`O_TMPFILE` where the system
//! has it), readable by this process alone: nothing outlives the process,
//! even one killed with SIGKILL, and nothing of the data is left on disk.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};

use ferry_verifier::{RowRecord, SetDigest};

/// One side's records, partitioned by key.
pub struct RecordSpill {
    partitions: Vec<Partition>,
    /// Records a partition keeps in memory before it writes them out.
    flush_at: usize,
}

#[derive(Default)]
struct Partition {
    memory: Vec<RowRecord>,
    file: Option<File>,
    /// Every record added, spilled or not.
    digest: SetDigest,
}

impl RecordSpill {
    /// An empty spill of `partitions` partitions that keeps at most about
    /// `memory_bytes` of records in memory before writing them to disk.
    pub fn new(partitions: u32, memory_bytes: usize) -> RecordSpill {
        let partitions = partitions.max(1) as usize;
        RecordSpill {
            partitions: (0..partitions).map(|_| Partition::default()).collect(),
            flush_at: (memory_bytes / RowRecord::BYTES / partitions).max(1024),
        }
    }

    /// Adds records, each to the partition of its key.
    pub fn extend(&mut self, records: &[RowRecord]) -> io::Result<()> {
        let count = self.partitions.len() as u32;
        for record in records {
            let partition = &mut self.partitions[record.partition(count) as usize];
            partition.digest.add(&record.member());
            partition.memory.push(*record);
            if partition.memory.len() >= self.flush_at {
                partition.flush()?;
            }
        }
        Ok(())
    }

    /// How many partitions there are.
    pub fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// How many records were added.
    pub fn rows(&self) -> u64 {
        self.partitions.iter().map(|p| p.digest.rows()).sum()
    }

    /// The order-independent digest of a partition's records.
    pub fn digest(&self, partition: u32) -> SetDigest {
        self.partitions[partition as usize].digest
    }

    /// Every record of a partition, read back from disk; the partition is
    /// emptied and its file closed (and so gone).
    pub fn take(&mut self, partition: u32) -> io::Result<Vec<RowRecord>> {
        let partition = &mut self.partitions[partition as usize];
        let mut records = Vec::with_capacity(partition.digest.rows() as usize);
        if let Some(mut file) = partition.file.take() {
            file.rewind()?;
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let mut bytes = [0; RowRecord::BYTES];
            loop {
                match reader.read_exact(&mut bytes) {
                    Ok(()) => records.push(RowRecord::from_bytes(&bytes)),
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(err) => return Err(err),
                }
            }
        }
        records.append(&mut partition.memory);
        partition.memory = Vec::new();
        Ok(records)
    }
}

impl Partition {
    fn flush(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile()?),
        };
        let mut bytes = Vec::with_capacity(self.memory.len() * RowRecord::BYTES);
        for record in self.memory.drain(..) {
            bytes.extend_from_slice(&record.to_bytes());
        }
        file.write_all(&bytes)
    }
}

/// Partitions for a table of `rows` rows per side, so that one partition
/// of both sides sorts within about `budget_bytes`.
pub fn partitions_for(rows: u64, budget_bytes: usize) -> u32 {
    let per_side = (budget_bytes / 2 / RowRecord::BYTES).max(1) as u64;
    u32::try_from(rows.div_ceil(per_side).clamp(1, 4096)).expect("clamped")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> RowRecord {
        let hash = blake3::hash(&i.to_le_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&hash.as_bytes()[..16]);
        RowRecord {
            key,
            digest: [i as u8; 16],
            locator: i,
        }
    }

    #[test]
    fn records_come_back_from_memory_and_disk() {
        // A tiny budget: most records go to disk.
        let mut spill = RecordSpill::new(3, 0);
        let records: Vec<RowRecord> = (0..10_000).map(record).collect();
        spill.extend(&records).unwrap();
        let mut back = Vec::new();
        let mut digest = SetDigest::new();
        for partition in 0..spill.partition_count() {
            digest.merge(&spill.digest(partition));
            let taken = spill.take(partition).unwrap();
            assert!(taken.iter().all(|r| r.partition(3) == partition));
            back.extend(taken);
            assert!(spill.take(partition).unwrap().is_empty());
        }
        back.sort_by_key(|r| r.locator);
        assert_eq!(back, records);
        assert_eq!(digest.rows(), 10_000);
    }

    #[test]
    fn partitions_grow_with_rows() {
        assert_eq!(partitions_for(0, 64 << 20), 1);
        assert_eq!(partitions_for(100, 64 << 20), 1);
        assert_eq!(partitions_for(10_000_000, 64 << 20), 12);
        assert_eq!(partitions_for(u64::MAX, 64 << 20), 4096);
    }
}
