//! Newline-delimited JSON files (`.ndjson`, `.jsonl`, `.json`; also `.gz` / `.zst`
//! compressed): one object per line, read with arrow-json.
//!
//! Algorithm: the schema is inferred from each file's first `infer_rows` records and
//! merged by name across files (types widen, as for CSV). A file is one scan task: its
//! bytes stream through a decompressing reader into arrow-json's decoder, one batch
//! of `chunk_rows` records at a time, decoded by name into the dataset's columns (a
//! missing key is NULL); several files decode in parallel.
//!
//! Memory and spill: one batch and the reader's 1 MiB buffer per running task, held in
//! a fixed reservation; nothing grows with the file. A record that does not parse, or
//! a value of the wrong type, is an error naming the file and the record range.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};

use super::csv::compressed;
use super::options::JsonOptions;
use crate::error::{Error, Result};

/// The columns of one file, inferred from its first records (read once, then both
/// typed by arrow-json and scanned for the keys' order).
pub(crate) fn infer_file_schema(path: &Path, o: &JsonOptions) -> Result<Schema> {
    let mut reader = std::io::BufReader::new(compressed::open(path)?);
    let mut sample: Vec<u8> = Vec::new();
    let mut records = 0;
    while records < o.infer_rows.max(1) {
        let read = reader
            .read_until(b'\n', &mut sample)
            .map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        records += 1;
    }
    if sample.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Error::NotSupported(format!(
            "{}: a JSON array; floe reads newline-delimited JSON (one object per line)",
            path.display()
        )));
    }
    let (schema, _) = arrow::json::reader::infer_json_schema(&sample[..], None)
        .map_err(|e| invalid(path, None, e))?;
    // arrow-json's inference does not keep the keys' order: columns come in the order
    // the keys first appear, as in DuckDB.
    let order = key_order(path, &sample)?;
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.sort_by_key(|f| {
        order
            .iter()
            .position(|k| k == f.name())
            .unwrap_or(usize::MAX)
    });
    Ok(Schema::new(fields))
}

/// The top-level keys of the records in `sample`, in order of first appearance.
fn key_order(path: &Path, sample: &[u8]) -> Result<Vec<String>> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                keys.push(k);
            }
            Ok(keys)
        }
    }
    let mut order: Vec<String> = Vec::new();
    for line in sample.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut de = serde_json::Deserializer::from_slice(line);
        let keys = serde::Deserializer::deserialize_map(&mut de, Keys)
            .map_err(|e| invalid(path, None, e))?;
        for k in keys {
            if !order.contains(&k) {
                order.push(k);
            }
        }
    }
    Ok(order)
}

fn invalid(path: &Path, records: Option<(u64, u64)>, e: impl std::fmt::Display) -> Error {
    let at = records
        .map(|(a, b)| format!(" (records {a}..{b})"))
        .unwrap_or_default();
    Error::InvalidInput(format!("JSON error in {}{at}: {e}", path.display()))
}

/// The batches of one file, `projection` of `schema` (the dataset's columns).
pub(crate) struct JsonReader {
    path: PathBuf,
    reader: Option<arrow::json::Reader<std::io::BufReader<Box<dyn std::io::Read + Send>>>>,
    projection: Vec<usize>,
    records: u64,
    chunk_rows: u64,
    failed: bool,
}

impl JsonReader {
    pub fn open(
        path: &Path,
        schema: &SchemaRef,
        projection: Vec<usize>,
        chunk_rows: usize,
    ) -> Result<JsonReader> {
        let input = std::io::BufReader::with_capacity(1 << 20, compressed::open(path)?);
        let reader = arrow::json::ReaderBuilder::new(Arc::clone(schema))
            .with_batch_size(chunk_rows.max(1))
            .build(input)
            .map_err(|e| invalid(path, None, e))?;
        Ok(JsonReader {
            path: path.to_path_buf(),
            reader: Some(reader),
            projection,
            records: 0,
            chunk_rows: chunk_rows.max(1) as u64,
            failed: false,
        })
    }
}

impl Iterator for JsonReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.failed {
            return None;
        }
        let reader = self.reader.as_mut()?;
        match reader.next() {
            None => {
                self.reader = None;
                None
            }
            Some(Err(e)) => {
                self.failed = true;
                Some(Err(invalid(
                    &self.path,
                    // arrow-json does not say which record of the batch failed.
                    Some((self.records + 1, self.records + self.chunk_rows)),
                    e,
                )))
            }
            Some(Ok(batch)) => {
                self.records += batch.num_rows() as u64;
                Some(batch.project(&self.projection).map_err(Error::from))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    #[test]
    fn infers_reads_and_names_bad_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ndjson");
        std::fs::write(
            &p,
            "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2}\n\n{\"b\": \"z\", \"a\": 3}\n",
        )
        .unwrap();
        let schema = Arc::new(infer_file_schema(&p, &JsonOptions::default()).unwrap());
        assert_eq!(schema.fields().len(), 2);
        let batches: Vec<RecordBatch> = JsonReader::open(&p, &schema, vec![0, 1], 2)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        let a: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(a, [1, 2, 3]);
        assert_eq!(
            batches
                .iter()
                .map(|b| b.column(1).null_count())
                .sum::<usize>(),
            1
        );

        std::fs::write(&p, "{\"a\": 1}\n{\"a\": \"oops\"}\n").unwrap();
        let e = JsonReader::open(&p, &schema, vec![0], 10)
            .unwrap()
            .find_map(|r| r.err())
            .unwrap()
            .to_string();
        assert!(e.contains("a.ndjson"), "{e}");

        let arr = dir.path().join("arr.json");
        std::fs::write(&arr, "[{\"a\": 1}]").unwrap();
        let e = infer_file_schema(&arr, &JsonOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("newline-delimited"), "{e}");
    }
}
