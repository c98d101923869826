//! Compressed CSV files: `.gz` (gzip) and `.zst` (zstd), found by their extension
//! (`x.csv.gz`, `x.tsv.zst`, also in globs and directories).
//!
//! Algorithm: schema inference and delimiter sniffing read the first records through
//! a decompressing stream. The scan decompresses the whole file, streaming, into a
//! temporary file in the scan's scratch directory (the spill dir) and maps that as it
//! maps a plain CSV file, so a compressed file still parses on all cores; the
//! decompression itself is one pass on one core, and a glob of compressed files
//! decompresses one file per worker.
//!
//! Memory and spill: decompression goes through a fixed 1 MiB buffer; the decompressed
//! copy is on disk (as large as the plain CSV), and it is deleted when the file's scan
//! ends, on success, error or cancel. A corrupt or truncated stream is an error naming
//! the file.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// A compression the CSV reader undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Gzip,
    Zstd,
}

/// The codec that `path`'s last extension names, if any.
pub(crate) fn codec_of(path: &Path) -> Option<Codec> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "gz" | "gzip" => Some(Codec::Gzip),
        "zst" | "zstd" => Some(Codec::Zstd),
        _ => None,
    }
}

/// `path` without a codec extension (`x.csv.gz` → `x.csv`), to find its format.
pub(crate) fn inner_name(path: &Path) -> &Path {
    match codec_of(path) {
        Some(_) => path.file_stem().map_or(path, Path::new),
        None => path,
    }
}

/// The bytes of `path`, decompressed when its extension names a codec.
pub(crate) fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = crate::io::stream_input::open(path)?;
    let buffered = BufReader::with_capacity(1 << 20, file);
    Ok(match codec_of(path) {
        None => Box::new(buffered),
        Some(Codec::Gzip) => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Some(Codec::Zstd) => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| corrupt(path, Codec::Zstd, e))?,
        ),
    })
}

/// Decompresses `path` into a new temporary file in `dir`, deleted when dropped.
pub(crate) fn decompress(path: &Path, dir: &Path) -> Result<tempfile::NamedTempFile> {
    let codec = codec_of(path)
        .ok_or_else(|| Error::Internal(format!("{} is not compressed", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = tempfile::Builder::new()
        .prefix("floe-csv-")
        .suffix(".csv")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let mut input = open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(path, codec, e)),
        };
        out.write_all(&buffer[..n]).map_err(|e| {
            if e.raw_os_error() == Some(28) {
                Error::DiskFull {
                    path: dir.to_path_buf(),
                }
            } else {
                Error::io(out.path(), e)
            }
        })?;
    }
    out.flush().map_err(|e| Error::io(out.path(), e))?;
    Ok(out)
}

/// A decompression failure, naming the file and the codec.
pub(crate) fn corrupt(path: &Path, codec: Codec, e: std::io::Error) -> Error {
    let what = match codec {
        Codec::Gzip => "gzip",
        Codec::Zstd => "zstd",
    };
    Error::io(
        path,
        std::io::Error::new(e.kind(), format!("corrupt or truncated {what} data: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn both_codecs_round_trip_and_damage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a,b\n1,x\n2,y\n".repeat(1000);
        let gz = dir.path().join("t.csv.gz");
        std::fs::write(&gz, gzip(&text)).unwrap();
        let zst = dir.path().join("t.csv.zst");
        std::fs::write(&zst, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
        for path in [&gz, &zst] {
            let copy = decompress(path, dir.path()).unwrap();
            assert_eq!(std::fs::read(copy.path()).unwrap(), text);
            assert_eq!(inner_name(path), Path::new("t.csv"));
        }
        // Truncated: the stream ends early.
        let full = std::fs::read(&gz).unwrap();
        std::fs::write(&gz, &full[..full.len() / 2]).unwrap();
        let e = decompress(&gz, dir.path()).unwrap_err().to_string();
        assert!(e.contains("t.csv.gz") && e.contains("gzip"), "{e}");
        let full = std::fs::read(&zst).unwrap();
        std::fs::write(&zst, &full[..full.len() / 2]).unwrap();
        let e = decompress(&zst, dir.path()).unwrap_err().to_string();
        assert!(e.contains("t.csv.zst") && e.contains("zstd"), "{e}");
        // Only the test's own files are left: failed copies are gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
