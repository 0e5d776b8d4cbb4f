//! Crash-safe whole-file replacement shared by the file backends.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Prefix of temporary files. `~` is not a key character, so a temporary file can never be
/// mistaken for a key, and listing can skip it by that rule alone.
pub(crate) const TEMP_PREFIX: &str = ".tmp~";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether the target was written or already existed.
pub(crate) enum Placed {
    Written,
    Existed,
}

/// Writes `bytes` to `target` so that readers see either the old or the new content, never a
/// prefix: temp file in the same directory, write, fsync, then rename (or, with `only_if_absent`,
/// hard link, which fails atomically if the target exists), then fsync the directory so the
/// new name survives a crash.
pub(crate) fn write_atomically(
    target: &Path,
    bytes: &[u8],
    only_if_absent: bool,
) -> Result<Placed> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let (temp_path, mut file) = create_temp(dir)?;
    let result = (|| {
        file.write_all(bytes).map_err(io_error(&temp_path))?;
        file.sync_all().map_err(io_error(&temp_path))?;
        drop(file);
        let placed = if only_if_absent {
            match fs::hard_link(&temp_path, target) {
                Ok(()) => Placed::Written,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Placed::Existed,
                Err(e) => return Err(io_error(target)(e)),
            }
        } else {
            fs::rename(&temp_path, target).map_err(io_error(target))?;
            Placed::Written
        };
        if let Placed::Written = placed {
            sync_dir(dir)?;
        }
        Ok(placed)
    })();
    // After a rename the temp name is gone; after a link or a failure it must be removed.
    match fs::remove_file(&temp_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %temp_path.display(), error = %e, "could not remove temp file")
        }
    }
    result
}

/// Flushes a directory entry change (rename, unlink) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

fn create_temp(dir: &Path) -> Result<(PathBuf, File)> {
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            // A stale file from a crashed process with the same pid; try the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
