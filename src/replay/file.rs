//! JSON Lines capture files: one record per line in the shape of
//! `RecordJson` (binary as base64, timestamps and headers kept), written by
//! `kafka-pulse export` and read by `kafka-pulse import`. Local-disk I/O is
//! done directly with std; a line is small next to a Kafka round trip.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::record::{Record, RecordJson};
use super::ReplayError;

pub struct FileSource {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
    line_number: u64,
}

fn file_error(path: &Path, what: &str, error: impl std::fmt::Display) -> ReplayError {
    ReplayError::File(format!("{what} {}: {error}", path.display()))
}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        let file = File::open(path).map_err(|e| {
            ReplayError::Invalid(format!(
                "cannot open {}: {e}; give a file written by `kafka-pulse export`",
                path.display()
            ))
        })?;
        Ok(FileSource {
            path: path.to_path_buf(),
            lines: BufReader::new(file).lines(),
            line_number: 0,
        })
    }

    /// The highest partition number in the file, for --keep-partition checks
    /// and --create-target (reads the file once more).
    pub fn max_partition(path: &Path) -> Result<Option<i32>, ReplayError> {
        let mut source = FileSource::open(path)?;
        let mut max = None;
        while let Some(record) = source.next_record()? {
            max = Some(max.map_or(record.partition, |m: i32| m.max(record.partition)));
        }
        Ok(max)
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, ReplayError> {
        loop {
            let Some(line) = self.lines.next() else {
                return Ok(None);
            };
            self.line_number += 1;
            let line = line.map_err(|e| file_error(&self.path, "cannot read", e))?;
            if line.trim().is_empty() {
                continue;
            }
            let invalid = |message: String| {
                ReplayError::Invalid(format!(
                    "{} line {}: {message}",
                    self.path.display(),
                    self.line_number
                ))
            };
            let json: RecordJson = serde_json::from_str(&line).map_err(|e| {
                invalid(format!("not a record ({e}); each line must be one JSON object as written by `kafka-pulse export`"))
            })?;
            return json.into_record().map(Some).map_err(|e| invalid(e.0));
        }
    }
}

pub struct FileSink {
    path: PathBuf,
    /// Written to `path.partial` and renamed at the end, so a failed export
    /// never leaves a file that looks complete.
    partial: PathBuf,
    out: BufWriter<File>,
    topic: String,
    pub written: u64,
    pub written_bytes: u64,
    pub last_written: std::collections::BTreeMap<i32, i64>,
}

impl FileSink {
    /// Refuses to overwrite an existing file without `overwrite`: checked
    /// before Kafka is contacted, so the mistake is named at once.
    pub fn check_target(path: &Path, overwrite: bool) -> Result<(), ReplayError> {
        if path.exists() && !overwrite {
            return Err(ReplayError::Invalid(format!(
                "{} already exists; choose another file or add --force to overwrite it",
                path.display()
            )));
        }
        Ok(())
    }

    pub fn create(path: &Path, topic: &str, overwrite: bool) -> Result<Self, ReplayError> {
        Self::check_target(path, overwrite)?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|e| {
            ReplayError::Invalid(format!("cannot create {}: {e}", partial.display()))
        })?;
        Ok(FileSink {
            path: path.to_path_buf(),
            partial,
            out: BufWriter::new(file),
            topic: topic.to_string(),
            written: 0,
            written_bytes: 0,
            last_written: Default::default(),
        })
    }

    pub fn write(&mut self, record: &Record) -> Result<(), ReplayError> {
        let json = RecordJson::from_record(Some(&self.topic), record, None);
        serde_json::to_writer(&mut self.out, &json)
            .map_err(|e| file_error(&self.partial, "cannot write", e))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| file_error(&self.partial, "cannot write", e))?;
        self.written += 1;
        self.written_bytes += record.payload_bytes();
        self.last_written.insert(record.partition, record.offset);
        Ok(())
    }

    /// Flushes and moves the file into place; `complete` false (failure or
    /// cancel) keeps what was written under the `.partial` name.
    pub fn finish(&mut self, complete: bool) -> Result<PathBuf, ReplayError> {
        self.out
            .flush()
            .map_err(|e| file_error(&self.partial, "cannot write", e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| file_error(&self.partial, "cannot sync", e))?;
        if !complete {
            return Ok(self.partial.clone());
        }
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| file_error(&self.path, "cannot move the export into place at", e))?;
        Ok(self.path.clone())
    }
}
