//! Picks the context-switch backend: the hand-written asm where `asm/` has a file for the target,
//! corosensei elsewhere or when the `corosensei-backend` feature asks for it.
//!
//! The asm files are written for ELF targets with the System V / AAPCS64 / LP64D calling
//! conventions and hardware floating point: Linux (and Android) on x86_64, aarch64 with FP
//! registers, and riscv64 with the D extension. Anything else (macOS's Mach-O, Windows' x64
//! convention, soft-float targets) uses corosensei.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(zsync_corosensei)");
    println!("cargo::rustc-check-cfg=cfg(loom)");
    println!("cargo::rustc-check-cfg=cfg(zsync_hand_over)");
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let (arch, os) = (var("CARGO_CFG_TARGET_ARCH"), var("CARGO_CFG_TARGET_OS"));
    let features = var("CARGO_CFG_TARGET_FEATURE");
    let has = |feature: &str| features.split(',').any(|f| f == feature);
    let elf_sysv = matches!(os.as_str(), "linux" | "android");
    let has_asm = elf_sysv
        && match arch.as_str() {
            "x86_64" => true,
            "aarch64" => has("neon"),
            "riscv64" => has("d"),
            _ => false,
        };
    // The `hook` feature's test loads a C library with dlopen: its libc calls bind to the hooks
    // only if the test binary exports them.
    if elf_sysv && std::env::var_os("CARGO_FEATURE_HOOK").is_some() {
        println!("cargo::rustc-link-arg-tests=-Wl,--export-dynamic");
    }
    let corosensei = !has_asm || std::env::var_os("CARGO_FEATURE_COROSENSEI_BACKEND").is_some();
    if corosensei {
        println!("cargo::rustc-cfg=zsync_corosensei");
    }
    // A suspending green thread enters its successor directly (`Suspender::hand_over`): every
    // hand-written switch in asm/ has the sequence; corosensei has none, and goes through the
    // worker. `ZSYNC_HAND_OVER=0` at build time turns it off, for measuring.
    println!("cargo::rerun-if-env-changed=ZSYNC_HAND_OVER");
    if !corosensei && var("ZSYNC_HAND_OVER") != "0" {
        println!("cargo::rustc-cfg=zsync_hand_over");
    }
}
