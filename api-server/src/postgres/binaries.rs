//! Finding `initdb` and `postgres` on this machine.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where PostgreSQL server binaries were found.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    /// Directory holding both binaries.
    pub bin_dir: PathBuf,
    /// Path of `initdb`.
    pub initdb: PathBuf,
    /// Path of `postgres`.
    pub postgres: PathBuf,
}

impl PgBinaries {
    /// Looks on `PATH`, then under `/usr/lib/postgresql/*/bin` (newest major version first).
    pub fn locate() -> Result<Self, Error> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        dirs.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
        Self::locate_in(dirs)
    }

    /// Looks in the given directories, in order; the first one holding both binaries wins.
    pub fn locate_in(dirs: impl IntoIterator<Item = PathBuf>) -> Result<Self, Error> {
        let mut searched = Vec::new();
        for dir in dirs {
            let initdb = dir.join("initdb");
            let postgres = dir.join("postgres");
            if is_executable(&initdb) && is_executable(&postgres) {
                return Ok(Self {
                    bin_dir: dir,
                    initdb,
                    postgres,
                });
            }
            searched.push(dir);
        }
        Err(Error::PostgresNotInstalled { searched })
    }
}

/// `/usr/lib/postgresql/<major>/bin`, highest major first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Name of a binary, for messages.
pub(crate) fn display_name(path: &Path) -> &str {
    path.file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("postgres")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_error_says_how_to_install_or_use_database_url() {
        let empty = tempfile::tempdir().unwrap();
        let err = PgBinaries::locate_in([empty.path().to_path_buf()]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(
            message.contains(&empty.path().display().to_string()),
            "names the searched directory: {message}"
        );
    }

    #[test]
    fn a_directory_with_only_initdb_is_not_enough() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let initdb = dir.path().join("initdb");
        std::fs::write(&initdb, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&initdb, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(PgBinaries::locate_in([dir.path().to_path_buf()]).is_err());
    }

    #[test]
    fn debian_layout_prefers_the_newest_major_version() {
        let root = tempfile::tempdir().unwrap();
        for major in ["13", "15", "9", "not-a-version"] {
            std::fs::create_dir_all(root.path().join(major).join("bin")).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        let majors: Vec<_> = dirs
            .iter()
            .map(|d| {
                d.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(majors, ["15", "13", "9"]);
    }
}
