//! The switch's global symbols carry the crate's semver series, so that two semver-incompatible
//! versions of zsync can be linked into one program without clashing.

#[test]
fn asm_symbols_carry_the_semver_series() {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    // Cargo unifies versions that are semver compatible: 1.x.y share "1", 0.x.y share "0_x".
    let series = if major == 0 {
        format!("0_{minor}")
    } else {
        major.to_string()
    };
    let prefix = format!("zsync_{series}_");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("asm");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let globals: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".globl "))
            .map(str::trim)
            .collect();
        assert!(
            !globals.is_empty(),
            "{} defines no global symbol",
            path.display()
        );
        for symbol in globals {
            assert!(
                symbol.starts_with(&prefix),
                "{}: {symbol} should start with {prefix}",
                path.display()
            );
        }
        files += 1;
    }
    assert_eq!(
        files, 3,
        "one file per architecture: x86_64, aarch64, riscv64"
    );
}
