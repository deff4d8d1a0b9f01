//! The Go peer: go/main.go, built once per run with the system's Go (Debian's golang-go) into
//! the target directory. When Go is not installed the runner prints one line and leaves the Go
//! column empty.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The built Go program, or None (with the reason printed once) when Go is missing or the
/// build fails.
pub fn binary() -> Option<PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY.get_or_init(build).clone()
}

/// `go version`'s output, when Go is installed.
pub fn version() -> Option<String> {
    let out = Command::new("go").arg("version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn build() -> Option<PathBuf> {
    if version().is_none() {
        println!("Go skipped: go is not installed (apt-get install golang-go)");
        return None;
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = manifest.join("target").join("zsync-peers-go");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&output)
        .arg(".")
        .current_dir(manifest.join("go"))
        .env("GOFLAGS", "-buildvcs=false")
        .status();
    match status {
        Ok(s) if s.success() => Some(output),
        _ => {
            println!("Go skipped: `go build` in benches/peers/go failed");
            None
        }
    }
}
