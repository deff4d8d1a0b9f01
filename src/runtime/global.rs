//! The global default runtime, started on first use by `zsync::spawn` outside any runtime, so
//! that `spawn` works anywhere, like `std::thread::spawn`. A forked child starts one of its own
//! on first use (see `fork.rs`).

use super::fork::PerProcess;
use super::{Builder, Handle, Runtime};

/// The global runtime's handle. Workers: `ZSYNC_WORKERS`, or `available_parallelism`.
///
/// # Panics
/// If the runtime cannot start (its worker threads cannot be created), or if `ZSYNC_WORKERS` is
/// not a positive number.
pub(crate) fn global_handle() -> Handle {
    static GLOBAL: PerProcess<Runtime> = PerProcess::new();
    GLOBAL
        .get_or_init(|| {
            let mut builder = Builder::new().thread_name("zsync-global");
            if let Ok(value) = std::env::var("ZSYNC_WORKERS") {
                match value.trim().parse::<usize>() {
                    Ok(n) if n > 0 => builder = builder.worker_threads(n),
                    _ => panic!(
                        "ZSYNC_WORKERS must be a positive number of worker threads, got {value:?}"
                    ),
                }
            }
            builder
                .build()
                .unwrap_or_else(|err| panic!("zsync: cannot start the global runtime: {err}"))
        })
        .handle()
}
