//! Picks the context-switch backend: the hand-written asm where `asm/` has a file for the target
//! architecture, corosensei elsewhere or when the `corosensei-backend` feature asks for it.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(zsync_corosensei)");
    println!("cargo::rustc-check-cfg=cfg(loom)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let has_asm = matches!(arch.as_str(), "x86_64" | "aarch64" | "riscv64");
    if !has_asm || std::env::var_os("CARGO_FEATURE_COROSENSEI_BACKEND").is_some() {
        println!("cargo::rustc-cfg=zsync_corosensei");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
