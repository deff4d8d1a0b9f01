//! The aarch64 and riscv64 context switches (asm/aarch64.s, asm/riscv64.s), tested as plain
//! assembly on any host: tests/cross/harness.c is cross-compiled with Debian's
//! `<triple>-gcc -static` together with the .s file and run under qemu-user, and the .s file is
//! also assembled by clang, whose integrated assembler is the one rustc uses for `global_asm!`.
//! See the top of tests/cross/harness.c for what the harness checks.
//!
//! A missing tool skips the test with a message, unless `ZSYNC_REQUIRE_CROSS=1` is set, in which
//! case it fails naming the Debian package to install.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Arch {
    /// Also the name of the file in asm/.
    name: &'static str,
    /// The GNU triple: `<triple>-gcc`, and Debian's cross packages.
    triple: &'static str,
    /// Debian's name for the architecture, in the cross packages' names.
    debian: &'static str,
    /// clang's arguments to assemble for it, as rustc's target does.
    clang: &'static [&'static str],
}

const AARCH64: Arch = Arch {
    name: "aarch64",
    triple: "aarch64-linux-gnu",
    debian: "arm64",
    clang: &["--target=aarch64-linux-gnu"],
};

const RISCV64: Arch = Arch {
    name: "riscv64",
    triple: "riscv64-linux-gnu",
    debian: "riscv64",
    clang: &["--target=riscv64-linux-gnu", "-march=rv64gc"],
};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn asm_file(arch: &Arch) -> PathBuf {
    crate_dir().join("asm").join(format!("{}.s", arch.name))
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross_arch");
    std::fs::create_dir_all(&dir).expect("creating the temporary directory");
    dir
}

/// A tool is missing: print what is skipped and return false, or, with ZSYNC_REQUIRE_CROSS=1,
/// fail.
fn missing(what: &str, package: &str, arch: &Arch) -> bool {
    let msg = format!("{what} not found; install the Debian package `{package}`");
    if std::env::var_os("ZSYNC_REQUIRE_CROSS").is_some_and(|v| v == "1") {
        panic!("{msg} (ZSYNC_REQUIRE_CROSS=1)");
    }
    // Straight to stderr: libtest captures eprintln! of passing tests, and this line is for
    // whoever runs `cargo test`.
    let line = format!(
        "cross_arch: skipped part of the {} test: {msg}\n",
        arch.name
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// Runs a command; None if the program does not exist.
fn run(cmd: &mut Command) -> Option<Output> {
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running {cmd:?}: {e}"),
    }
}

fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?}: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// clang's integrated assembler (LLVM's, as in rustc) accepts the file.
fn llvm_assembles(arch: &Arch) -> bool {
    let obj = out_dir().join(format!("{}-llvm.o", arch.name));
    let mut cmd = Command::new("clang");
    cmd.args(arch.clang)
        .arg("-c")
        .arg(asm_file(arch))
        .arg("-o")
        .arg(&obj);
    let Some(out) = run(&mut cmd) else {
        return missing("clang", "clang", arch);
    };
    assert!(
        out.status.success(),
        "LLVM does not assemble {}: {}",
        arch.name,
        describe(&cmd, &out)
    );
    true
}

/// The harness, built with the .s file and run, prints `ok`.
fn harness_passes(arch: &Arch) -> bool {
    let gcc = format!("{}-gcc", arch.triple);
    let exe = out_dir().join(format!("harness-{}", arch.name));
    let mut cmd = Command::new(&gcc);
    cmd.args([
        "-static",
        "-O2",
        "-fno-omit-frame-pointer",
        "-fasynchronous-unwind-tables",
        "-Wall",
    ])
    .arg(crate_dir().join("tests/cross/harness.c"))
    .arg(asm_file(arch))
    .arg("-o")
    .arg(&exe);
    let Some(out) = run(&mut cmd) else {
        return missing(&gcc, &format!("gcc-{}", arch.triple), arch);
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains(".h: No such file") {
            // The compiler is there but not the target's C library headers.
            return missing(
                &format!("the C library for {}", arch.triple),
                &format!("libc6-dev-{}-cross", arch.debian),
                arch,
            );
        }
        panic!(
            "building the {} harness failed: {}",
            arch.name,
            describe(&cmd, &out)
        );
    }

    // Static binaries: no -L sysroot needed. On a host of the same architecture, run it as is.
    let mut cmd = if std::env::consts::ARCH == arch.name {
        Command::new(&exe)
    } else {
        let mut cmd = Command::new(format!("qemu-{}", arch.name));
        cmd.arg(&exe);
        cmd
    };
    let Some(out) = run(&mut cmd) else {
        return missing(&format!("qemu-{}", arch.name), "qemu-user", arch);
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.starts_with("ok")),
        "the {} harness failed: {}",
        arch.name,
        describe(&cmd, &out)
    );
    eprintln!("cross_arch: {}: {}", arch.name, stdout.trim());
    true
}

fn test_arch(arch: &Arch) {
    // Both parts run even if one is skipped; each reports its own skip.
    llvm_assembles(arch);
    harness_passes(arch);
}

#[test]
fn aarch64() {
    test_arch(&AARCH64);
}

#[test]
fn riscv64() {
    test_arch(&RISCV64);
}

/// Every file in asm/ is included by `global_asm!`, which reads `{` and `}` as format
/// placeholders, and is assembled without the C preprocessor. Needs no tools.
#[test]
fn asm_files_fit_global_asm() {
    let mut seen = 0;
    for entry in std::fs::read_dir(crate_dir().join("asm")).expect("reading asm/") {
        let path = entry.expect("reading asm/").path();
        if path.extension().is_none_or(|e| e != "s") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("reading an asm file");
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.contains(['{', '}']),
                "{}:{}: curly braces are format placeholders in global_asm!",
                path.display(),
                i + 1
            );
            let directive = line.trim_start();
            assert!(
                !["#include", "#define", "#if", "#ifdef", "#ifndef"]
                    .iter()
                    .any(|d| directive.starts_with(d)),
                "{}:{}: no C preprocessor: the file is assembled as plain .s",
                path.display(),
                i + 1
            );
        }
    }
    assert!(
        seen >= 3,
        "expected asm/x86_64.s, asm/aarch64.s and asm/riscv64.s"
    );
}
