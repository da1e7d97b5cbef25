//! The `crd` subcommand: the CRDs of `alexandria-crds` as YAML, on stdout or as files.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// All CRDs as one multi-document YAML stream.
pub fn yaml_stream() -> Result<String, alexandria_crds::Error> {
    alexandria_crds::crds_yaml_stream()
}

/// Writes `<plural>.yaml` for each CRD into `dir` and returns the paths written.
pub fn write_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let files = alexandria_crds::crd_files().context("generating the CRDs")?;
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
