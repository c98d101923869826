//! Where the file sink writes: one file, or a directory of hive partitions, under a
//! temporary name until [`Output::commit`] renames it to the destination.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::partition::PartitionFiles;
use super::writer::{self, FileWriter, Format, TempGuard};
use crate::error::{Error, Result};

/// The files being written. Writers are declared before the temp guard, so they
/// are dropped (closing their handles) before the guard deletes the temp path.
pub(super) enum Output {
    File {
        writer: FileWriter,
        temp: TempGuard,
        dest: PathBuf,
    },
    Partitioned {
        files: PartitionFiles,
        temp: TempGuard,
        dest: PathBuf,
    },
}

/// Whether `dest` can take an output: a single file's path must not be a directory,
/// a partitioned output's directory must be new or empty, and the parent directory
/// must exist (the temporary output is made beside the destination).
pub(super) fn check_destination(dest: &Path, partitioned: bool) -> Result<()> {
    let fail = |kind: std::io::ErrorKind, message: &str| {
        Err(Error::io(
            dest,
            std::io::Error::new(kind, message.to_string()),
        ))
    };
    if partitioned {
        if dest.exists() && !writer::is_empty_dir(dest).map_err(|e| Error::io(dest, e))? {
            return fail(
                std::io::ErrorKind::AlreadyExists,
                "partitioned output needs a new or empty directory",
            );
        }
    } else if dest.is_dir() {
        return fail(
            std::io::ErrorKind::IsADirectory,
            "output file path is a directory",
        );
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return fail(
            std::io::ErrorKind::NotFound,
            "the output's parent directory does not exist",
        );
    }
    Ok(())
}

impl Output {
    pub(super) fn create_file(dest: &Path, format: &Format, schema: &SchemaRef) -> Result<Output> {
        check_destination(dest, false)?;
        let (temp, file) = TempGuard::create_file(dest)?;
        let writer = FileWriter::create(format, file, schema, dest.to_path_buf())?;
        Ok(Output::File {
            writer,
            temp,
            dest: dest.to_path_buf(),
        })
    }

    pub(super) fn create_dir(dest: &Path, file_schema: &SchemaRef) -> Result<Output> {
        check_destination(dest, true)?;
        let temp = TempGuard::create_dir(dest)?;
        let files = PartitionFiles::new(temp.path(), dest, Arc::clone(file_schema));
        Ok(Output::Partitioned {
            files,
            temp,
            dest: dest.to_path_buf(),
        })
    }

    pub(super) fn buffered_bytes(&self) -> usize {
        match self {
            Output::File { writer, .. } => writer.buffered_bytes(),
            Output::Partitioned { files, .. } => files.buffered_bytes(),
        }
    }

    pub(super) fn flush_largest(&mut self) -> Result<bool> {
        match self {
            Output::File { writer, .. } if writer.buffered_bytes() > 0 => {
                writer.flush_buffered().map(|()| true)
            }
            Output::File { .. } => Ok(false),
            Output::Partitioned { files, .. } => files.flush_largest(),
        }
    }

    /// Closes the writers and renames the output to its final name.
    pub(super) fn commit(self) -> Result<Vec<PathBuf>> {
        match self {
            Output::File { writer, temp, dest } => {
                writer.close()?;
                temp.commit(&dest)?;
                Ok(vec![dest])
            }
            Output::Partitioned { files, temp, dest } => {
                let created = files.close_all()?;
                temp.commit(&dest)?;
                Ok(created.into_iter().map(|rel| dest.join(rel)).collect())
            }
        }
    }
}
