//! Where the client keeps its data: `--data-dir`, else `GREENLIGHT_HOME`,
//! else the platform's user data directory.

use std::path::PathBuf;

/// The data directory to use, from the command line or the environment.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("GREENLIGHT_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    // XDG on Linux, the conventional places elsewhere.
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| platform_data(PathBuf::from(h))))
        .ok_or("no data directory: give --data-dir or set GREENLIGHT_HOME")?;
    Ok(base.join("greenlight"))
}

fn platform_data(home: PathBuf) -> PathBuf {
    if cfg!(target_os = "macos") { home.join("Library/Application Support") } else { home.join(".local/share") }
}
