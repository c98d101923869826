//! Plans as bytes: the formats logical and physical plans are shipped in.
//!
//! * Binary: MessagePack (`rmp-serde`), compact and self-describing, for sending a
//!   plan or a plan fragment to another process.
//! * JSON (`serde_json`), for reading a plan and debugging.
//!
//! In-memory batches inside a plan travel as an Arrow IPC stream ([`batches`]).
//! Datasets travel as their file list (paths, sizes, partition values, schemas, and
//! the row groups or byte ranges a fragment reads); Parquet footers are read again
//! where the plan is read back, so a file the reader cannot open is an error there,
//! naming the file.
//!
//! Plans hold no pointers and no floating state, so equal plans serialize to equal
//! bytes: [`fingerprint`] hashes that form, and the shared-subplan rule uses it as a
//! structural identity.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

fn encode_error(e: impl std::fmt::Display) -> Error {
    Error::Serialization(e.to_string())
}

/// The compact binary form of `value`.
pub fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec(value).map_err(encode_error)
}

/// Reads [`to_bytes`] back.
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(encode_error)
}

/// The JSON form of `value`.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(encode_error)
}

/// Reads [`to_json`] back.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(encode_error)
}

/// A structural identity of `value`: its binary form. Two values with the same
/// fingerprint serialize to the same bytes, so they are the same plan.
pub fn fingerprint<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    to_bytes(value)
}

/// Serde of `Vec<RecordBatch>` as one Arrow IPC stream (with its schema), carried as
/// a byte string.
pub mod batches {
    use arrow::array::RecordBatch;
    use arrow::ipc::reader::StreamReader;
    use arrow::ipc::writer::StreamWriter;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(batches: &[RecordBatch], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut bytes = vec![];
        if let Some(first) = batches.first() {
            let mut w =
                StreamWriter::try_new(&mut bytes, &first.schema()).map_err(S::Error::custom)?;
            for b in batches {
                w.write(b).map_err(S::Error::custom)?;
            }
            w.finish().map_err(S::Error::custom)?;
        }
        serde_bytes::Bytes::new(&bytes).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RecordBatch>, D::Error> {
        use serde::de::Error as _;
        let bytes = serde_bytes::ByteBuf::deserialize(d)?.into_vec();
        if bytes.is_empty() {
            return Ok(vec![]);
        }
        let reader =
            StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(D::Error::custom)?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(D::Error::custom)
    }
}
