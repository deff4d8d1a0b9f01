//! Files, `fs` and `os::unix::fs`: bad paths (empty, with a NUL byte, too long, through a file,
//! dangling and looping symlinks); open options and their invalid combinations; reads, writes
//! and seeks at and past the end; permissions, times, locks; special files (/dev, /proc, a
//! FIFO); directory listings and `create_dir_all`; `Debug` output.

use super::api::*;
use crate::helpers::*;
use crate::Scenario;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

pub const SCENARIOS: &[Scenario] = scenarios![
    fs_read_dir_on_file,
    fs_empty_path,
    fs_nul_path,
    fs_nul_path2,
    fs_open_dir,
    fs_open_options_invalid,
    fs_create_new_exists,
    fs_set_len_readonly,
    fs_write_readonly,
    fs_copy_dir,
    fs_copy_perms,
    fs_copy_special,
    fs_rename_over_dir,
    fs_dangling_symlink,
    fs_symlink_loop,
    fs_not_a_dir,
    fs_remove_dir_nonempty,
    fs_create_dir_all,
    fs_create_dir_all_race,
    fs_dir_builder,
    fs_read_dir_entries,
    fs_read_dir_deleted_entry,
    fs_read_dir_removed_dir,
    fs_read_dir_debug,
    fs_file_debug,
    fs_seek,
    fs_append_mode,
    fs_read_at_eof,
    fs_read_exact_eof,
    fs_read_to_string_invalid,
    fs_metadata_fields,
    fs_permissions_denied,
    fs_set_permissions,
    fs_hard_link,
    fs_canonicalize,
    fs_relative_paths,
    fs_write_read_big,
    fs_read_to_end_size_hint,
    fs_proc_read,
    fs_dev_read,
    fs_fifo_open,
    fs_lock,
    fs_lock_wait,
    fs_set_times,
    fs_try_clone_pos,
    fs_sync_on_special,
    fs_write_zero,
    fs_truncate_then_read,
    fs_remove_file_dir,
    fs_symlink_errors,
    fs_metadata_root,
    fs_long_path,
    fs_exists_perm,
    fs_chown,
    fs_open_trailing_slash_create,
    fs_custom_flags,
    fs_o_path_ops,
    fs_write_append_create_no_write,
    fs_read_dir_proc,
    fs_file_into_std,
    fs_read_line_bufreader,
];

fn fs_read_dir_on_file() -> String {
    let d = TempDir::new();
    let f = d.join("f");
    std::fs::write(&f, b"x").unwrap();
    let x = rk(fs::read_dir(&f));
    let y = rk(fs::read_dir(d.join("missing")));
    let z = rk(fs::read_dir(""));
    format!("{x} | {y} | {z}")
}

fn fs_empty_path() -> String {
    format!(
        "{} | {} | {} | {} | {} | {} | {}",
        rk(fs::File::open("")),
        rk(fs::metadata("")),
        rk(fs::read("")),
        rk(fs::create_dir("")),
        rk(fs::remove_file("")),
        rk(fs::canonicalize("")),
        r(fs::exists(""))
    )
}

fn fs_nul_path() -> String {
    format!(
        "{} | {} | {} | {} | {} | {} | {} | {}",
        rk(fs::File::open("a\0b")),
        rk(fs::metadata("a\0b")),
        rk(fs::read("a\0b")),
        rk(fs::write("a\0b", b"")),
        rk(fs::create_dir_all("/tmp/a\0b")),
        rk(fs::canonicalize("a\0b")),
        r(fs::exists("a\0b")),
        rk(fs::read_dir("a\0b"))
    )
}

fn fs_nul_path2() -> String {
    format!(
        "{} | {} | {} | {} | {}",
        rk(fs::rename("a\0b", "c")),
        rk(fs::copy("/etc/hostname", "a\0b")),
        rk(fs::hard_link("a\0", "b")),
        rk(ufs::symlink("a", "b\0")),
        rk(fs::set_permissions(
            "a\0",
            std::fs::metadata("/").unwrap().permissions()
        ))
    )
}

fn fs_open_dir() -> String {
    let x = rk(fs::File::open("/tmp"));
    let mut f = fs::File::open("/tmp").unwrap();
    let mut b = [0u8; 4];
    let y = rk(f.read(&mut b));
    let mut s = String::new();
    let z = rk(f.read_to_string(&mut s));
    let w = rk(fs::read("/tmp"));
    let v = rk(fs::File::create("/tmp"));
    let u = rk(fs::write("/tmp", b"x"));
    format!("{x} | {y} | {z} | {w} | {v} | {u}")
}

// The meaningless combinations are the point: which error each gives is compared.
#[allow(clippy::suspicious_open_options, clippy::nonsensical_open_options)]
fn fs_open_options_invalid() -> String {
    let d = TempDir::new();
    let p = d.join("f");
    let a = rk(fs::OpenOptions::new().open(&p));
    let b = rk(fs::OpenOptions::new().create(true).open(&p));
    let c = rk(fs::OpenOptions::new().read(true).truncate(true).open(&p));
    let e1 = rk(fs::OpenOptions::new().read(true).create(true).open(&p));
    let f1 = rk(fs::OpenOptions::new().append(true).truncate(true).open(&p));
    let g = rk(fs::OpenOptions::new().write(true).create_new(true).open(&p));
    let h = rk(fs::OpenOptions::new().read(true).create_new(true).open(&p));
    let i = rk(fs::OpenOptions::new().write(true).open(&p));
    format!("{a} | {b} | {c} | {e1} | {f1} | {g} | {h} | {i}")
}

fn fs_create_new_exists() -> String {
    let d = TempDir::new();
    let p = d.join("f");
    std::fs::write(&p, b"x").unwrap();
    let a = rk(fs::File::create_new(&p));
    let b = rk(fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .truncate(true)
        .open(&p));
    format!("{a} | {b}")
}

fn fs_set_len_readonly() -> String {
    let d = TempDir::new();
    let p = d.join("f");
    std::fs::write(&p, b"hello").unwrap();
    let f = fs::File::open(&p).unwrap();
    let a = rk(f.set_len(2));
    let g = fs::OpenOptions::new().write(true).open(&p).unwrap();
    let b = r(g.set_len(u64::MAX));
    let c = r(g.set_len(1 << 62));
    let e2 = r(g.set_len(3));
    let m = std::fs::metadata(&p).unwrap().len();
    format!("{a} | {b} | {c} | {e2} | {m}")
}

fn fs_write_readonly() -> String {
    let d = TempDir::new();
    let p = d.join("f");
    std::fs::write(&p, b"hello").unwrap();
    let mut f = fs::File::open(&p).unwrap();
    let a = rk(f.write(b"x"));
    let b = rk(f.write(&[]));
    let c = rk(f.write_all(b"abc"));
    let e2 = rk(f.flush());
    let g = rk(f.sync_all());
    let mut w = fs::OpenOptions::new().write(true).open(&p).unwrap();
    let mut buf = [0u8; 2];
    let h = rk(w.read(&mut buf));
    let i = rk(w.read(&mut []));
    let mut s = String::new();
    let j = rk(w.read_to_string(&mut s));
    format!("{a} | {b} | {c} | {e2} | {g} | {h} | {i} | {j}")
}

fn fs_copy_dir() -> String {
    let d = TempDir::new();
    std::fs::create_dir(d.join("sub")).unwrap();
    let a = rk(fs::copy(d.join("sub"), d.join("dst")));
    let b = rk(fs::copy(d.join("missing"), d.join("dst")));
    std::fs::write(d.join("f"), b"abc").unwrap();
    let c = r(fs::copy(d.join("f"), d.join("sub")));
    let e2 = r(fs::copy(d.join("f"), d.join("f")));
    let cont = std::fs::read(d.join("f")).unwrap();
    format!("{a} | {b} | {c} | {e2} | {:?}", cont)
}

fn fs_copy_perms() -> String {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new();
    let f = d.join("f");
    std::fs::write(&f, b"abc").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o741)).unwrap();
    let n = r(fs::copy(&f, d.join("g")));
    let m = std::fs::metadata(d.join("g")).unwrap().permissions().mode();
    std::fs::write(d.join("h"), b"longer content").unwrap();
    let n2 = r(fs::copy(&f, d.join("h")));
    let c2 = std::fs::read(d.join("h")).unwrap();
    format!("{n} {:o} {n2} {:?}", m, c2)
}

fn fs_copy_special() -> String {
    let d = TempDir::new();
    let a = r(fs::copy("/proc/self/status", d.join("x")).map(|n| n > 0));
    let l = std::fs::metadata(d.join("x")).map(|m| m.len() > 0);
    let b = rk(fs::copy("/dev/null", d.join("y")));
    format!("{a} {:?} {b}", l)
}

fn fs_rename_over_dir() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"x").unwrap();
    std::fs::create_dir(d.join("e")).unwrap();
    std::fs::create_dir(d.join("ne")).unwrap();
    std::fs::write(d.join("ne/x"), b"").unwrap();
    let a = rk(fs::rename(d.join("f"), d.join("e")));
    let b = rk(fs::rename(d.join("e"), d.join("f")));
    std::fs::create_dir(d.join("e2")).unwrap();
    let c = rk(fs::rename(d.join("e2"), d.join("ne")));
    let e2 = rk(fs::rename(d.join("e2"), d.join("e")));
    let f = rk(fs::rename(d.join("e"), d.join("e/sub")));
    let g = rk(fs::rename(d.join("missing"), d.join("x")));
    let h = rk(fs::rename(d.join("f"), d.join("f")));
    format!("{a} | {b} | {c} | {e2} | {f} | {g} | {h}")
}

fn fs_dangling_symlink() -> String {
    let d = TempDir::new();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("l")).unwrap();
    let a = rk(fs::metadata(d.join("l")));
    let b = r(fs::symlink_metadata(d.join("l")).map(|m| (m.file_type().is_symlink(), m.is_file())));
    let c = r(fs::exists(d.join("l")));
    let e2 = r(fs::read_link(d.join("l")).map(|p| p.file_name().map(|s| s.to_owned())));
    let f = rk(fs::canonicalize(d.join("l")));
    let g = rk(fs::File::open(d.join("l")));
    let h = r(fs::File::create(d.join("l")).map(|_| std::fs::metadata(d.join("nowhere")).is_ok()));
    let i = rk(fs::read_link(d.join("nowhere")));
    format!("{a} | {b} | {c} | {e2} | {f} | {g} | {h} | {i}")
}

fn fs_symlink_loop() -> String {
    let d = TempDir::new();
    std::os::unix::fs::symlink(d.join("b"), d.join("a")).unwrap();
    std::os::unix::fs::symlink(d.join("a"), d.join("b")).unwrap();
    let a = rk(fs::metadata(d.join("a")));
    let b = r(fs::exists(d.join("a")));
    let c = rk(fs::File::open(d.join("a")));
    let e2 = rk(fs::canonicalize(d.join("a")));
    let f = rk(fs::read_to_string(d.join("a")));
    format!("{a} | {b} | {c} | {e2} | {f}")
}

fn fs_not_a_dir() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"x").unwrap();
    let a = rk(fs::metadata(d.join("f/x")));
    let b = r(fs::exists(d.join("f/x")));
    let c = rk(fs::File::open(d.join("f/x")));
    let e2 = rk(fs::create_dir(d.join("f/x")));
    let f = rk(fs::create_dir_all(d.join("f/x/y")));
    let g = rk(fs::remove_dir(d.join("f")));
    let h = rk(fs::remove_file(&d));
    let i = rk(fs::File::open(d.join("f/")));
    let j = rk(fs::metadata(d.join("f/")));
    let k = rk(fs::canonicalize(d.join("f/")));
    format!("{a} | {b} | {c} | {e2} | {f} | {g} | {h} | {i} | {j} | {k}")
}

fn fs_remove_dir_nonempty() -> String {
    let d = TempDir::new();
    std::fs::create_dir(d.join("s")).unwrap();
    std::fs::write(d.join("s/f"), b"").unwrap();
    let a = rk(fs::remove_dir(d.join("s")));
    let b = rk(fs::remove_dir_all(d.join("missing")));
    let c = rk(fs::remove_dir_all(d.join("s/f")));
    std::os::unix::fs::symlink(d.join("s"), d.join("link")).unwrap();
    let e2 = rk(fs::remove_dir_all(d.join("link")));
    let still = d.join("s/f").exists();
    let f = rk(fs::remove_dir_all(d.join("s")));
    let g = rk(fs::remove_dir(""));
    format!("{a} | {b} | {c} | {e2} | {still} | {f} | {g}")
}

fn fs_create_dir_all() -> String {
    let d = TempDir::new();
    let a = rk(fs::create_dir_all(d.join("a/b/c")));
    let b = rk(fs::create_dir_all(d.join("a/b/c")));
    let c = rk(fs::create_dir_all(d.join("a/b/c/")));
    let e2 = rk(fs::create_dir(d.join("a")));
    let f = rk(fs::create_dir_all(""));
    let g = rk(fs::create_dir_all("/"));
    let h = rk(fs::create_dir_all(d.join("a/./b/../x")));
    std::fs::write(d.join("file"), b"").unwrap();
    let i = rk(fs::create_dir_all(d.join("file")));
    let j = rk(fs::create_dir_all("/proc/nope/x"));
    format!("{a} | {b} | {c} | {e2} | {f} | {g} | {h} | {i} | {j}")
}

fn fs_create_dir_all_race() -> String {
    let d = TempDir::new();
    let p = d.join("a/b/c/d/e");
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            thread::spawn(move || rk(fs::create_dir_all(&p)))
        })
        .collect();
    let rs: Vec<String> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    format!("{:?}", rs)
}

fn fs_dir_builder() -> String {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let d = TempDir::new();
    let a = rk(fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(d.join("x/y")));
    let m = std::fs::metadata(d.join("x/y"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let b = rk(fs::DirBuilder::new().create(d.join("x/y")));
    let c = rk(fs::DirBuilder::new().recursive(true).create(d.join("x/y")));
    let e2 = rk(fs::DirBuilder::new().create(d.join("q/r")));
    format!(
        "{a} {:o} | {b} | {c} | {e2} | {:?}",
        m,
        fs::DirBuilder::new()
    )
}

fn fs_read_dir_entries() -> String {
    let d = TempDir::new();
    for n in ["a", "b", "c"] {
        std::fs::write(d.join(n), b"").unwrap();
    }
    std::fs::create_dir(d.join("dir")).unwrap();
    std::os::unix::fs::symlink("a", d.join("ln")).unwrap();
    let mut v: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            format!(
                "{:?}:{:?}:{}:{}",
                e.file_name(),
                e.file_type().map(|t| (t.is_dir(), t.is_symlink())).unwrap(),
                e.metadata().unwrap().is_dir(),
                e.path() == d.join(e.file_name())
            )
        })
        .collect();
    v.sort();
    format!("{:?}", v)
}

fn fs_read_dir_deleted_entry() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("a"), b"").unwrap();
    let mut it = fs::read_dir(&d).unwrap();
    let e = it.next().unwrap().unwrap();
    std::fs::remove_file(d.join("a")).unwrap();
    let a = rk(e.metadata());
    let b = r(e.file_type().map(|t| t.is_file()));
    let c = format!("{:?}", it.next().map(rk));
    format!("{a} | {b} | {c}")
}

fn fs_read_dir_removed_dir() -> String {
    let d = TempDir::new();
    let it = fs::read_dir(&d).unwrap();
    std::fs::remove_dir(&d).unwrap();
    let v: Vec<String> = it.map(rk).collect();
    format!("{:?}", v)
}

fn fs_read_dir_debug() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("a"), b"").unwrap();
    let it = fs::read_dir(&d).unwrap();
    let s = format!("{:?}", it).replace(d.to_str().unwrap(), "D");
    let e = fs::read_dir(&d).unwrap().next().unwrap().unwrap();
    let s2 = format!("{:?}", e).replace(d.to_str().unwrap(), "D");
    format!("{s} {s2}")
}

fn fs_file_debug() -> String {
    let d = TempDir::new();
    let f = fs::File::create(d.join("a")).unwrap();
    numbers_as_n(&format!("{f:?}").replace(d.to_str().unwrap(), "D"))
}

fn fs_seek() -> String {
    let d = TempDir::new();
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(d.join("f"))
        .unwrap();
    f.write_all(b"hello world").unwrap();
    let a = r(f.seek(SeekFrom::Start(0)));
    let b = r(f.seek(SeekFrom::Current(-1)));
    let c = rk(f.seek(SeekFrom::Current(-100)));
    let e2 = r(f.seek(SeekFrom::End(5)));
    let g = r(f.stream_position());
    let h = r(f.write(b"!"));
    let len = r(f.metadata().map(|m| m.len()));
    let i = r(f.seek(SeekFrom::Start(u64::MAX)));
    let j = rk(f.seek(SeekFrom::End(i64::MIN)));
    let k = r(f.seek(SeekFrom::Start(1 << 62)));
    let mut bb = [0u8; 4];
    let l = r(f.read(&mut bb));
    format!("{a} {b} {c} {e2} {g} {h} {len} {i} {j} {k} {l}")
}

fn fs_append_mode() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(d.join("f"))
        .unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(b"XY").unwrap();
    let p = r(f.stream_position());
    use std::os::unix::fs::FileExt;
    let w = r(f.write_at(b"Q", 0));
    let c = std::fs::read(d.join("f")).unwrap();
    format!("{p} {w} {:?}", String::from_utf8_lossy(&c))
}

fn fs_read_at_eof() -> String {
    use std::os::unix::fs::FileExt;
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    let f = fs::File::open(d.join("f")).unwrap();
    let mut b = [0u8; 8];
    let a = r(f.read_at(&mut b, 10));
    let c = r(f.read_at(&mut b, 1));
    let e2 = rk(f.read_exact_at(&mut b, 0));
    let g = r(f.read_at(&mut b, u64::MAX));
    let h = rk(f.read_at(&mut b, 1 << 63));
    format!("{a} {c} {e2} {g} {h}")
}

fn fs_read_exact_eof() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    let mut f = fs::File::open(d.join("f")).unwrap();
    let mut b = [0u8; 8];
    let a = rk(f.read_exact(&mut b));
    let p = r(f.stream_position());
    format!("{a} {p} {:?}", &b[..3])
}

fn fs_read_to_string_invalid() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"ab\xffcd").unwrap();
    let a = rk(fs::read_to_string(d.join("f")));
    let mut f = fs::File::open(d.join("f")).unwrap();
    let mut s = String::from("pre");
    let b = rk(f.read_to_string(&mut s));
    let p = r(f.stream_position());
    format!("{a} | {b} | {s:?} | {p}")
}

fn fs_metadata_fields() -> String {
    use std::os::unix::fs::MetadataExt;
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abcdef").unwrap();
    let m1 = std::fs::metadata(d.join("f")).unwrap();
    let m2 = fs::metadata(d.join("f")).unwrap();
    let f = fs::File::open(d.join("f")).unwrap();
    let m3 = f.metadata().unwrap();
    let same = m1.ino() == m2.ino()
        && m2.ino() == m3.ino()
        && m1.len() == m2.len()
        && m1.mode() == m3.mode()
        && m1.modified().unwrap() == m3.modified().unwrap()
        && m1.created().is_ok() == m2.created().is_ok();
    format!("{same} {}", m2.len())
}

fn fs_permissions_denied() -> String {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    std::fs::set_permissions(d.join("f"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = is_root();
    let a = rk(fs::File::open(d.join("f")));
    let b = rk(fs::read(d.join("f")));
    format!("root={root} {a} | {b}")
}

fn fs_set_permissions() -> String {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    let a = rk(fs::set_permissions(
        d.join("f"),
        std::fs::Permissions::from_mode(0o4755),
    ));
    let m = std::fs::metadata(d.join("f")).unwrap().permissions().mode();
    let b = rk(fs::set_permissions(
        d.join("missing"),
        std::fs::Permissions::from_mode(0o644),
    ));
    let f = fs::File::open(d.join("f")).unwrap();
    let c = rk(f.set_permissions(std::fs::Permissions::from_mode(0o600)));
    let m2 = std::fs::metadata(d.join("f")).unwrap().permissions().mode();
    format!("{a} {:o} {b} {c} {:o}", m, m2)
}

fn fs_hard_link() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    let a = rk(fs::hard_link(d.join("f"), d.join("g")));
    let b = rk(fs::hard_link(d.join("f"), d.join("g")));
    let c = rk(fs::hard_link(&d, d.join("h")));
    let e2 = rk(fs::hard_link(d.join("missing"), d.join("i")));
    std::os::unix::fs::symlink(d.join("f"), d.join("sym")).unwrap();
    let f = rk(fs::hard_link(d.join("sym"), d.join("j")));
    let isl = std::fs::symlink_metadata(d.join("j")).map(|m| m.file_type().is_symlink());
    format!("{a} | {b} | {c} | {e2} | {f} {:?}", isl)
}

fn fs_canonicalize() -> String {
    let d = TempDir::new();
    std::fs::create_dir(d.join("x")).unwrap();
    std::os::unix::fs::symlink(d.join("x"), d.join("l")).unwrap();
    let a = r(fs::canonicalize(d.join("l/../l/."))
        .map(|p| p == std::fs::canonicalize(d.join("x")).unwrap()));
    let b = rk(fs::canonicalize(d.join("missing/..")));
    let c = r(fs::canonicalize("."));
    let e2 = r(fs::canonicalize("/"));
    let f = r(fs::canonicalize("//"));
    let g = r(fs::canonicalize("/proc/self/fd/0").map(|_| ()));
    format!("{a} {b} {c} {e2} {f} {g}")
}

fn fs_relative_paths() -> String {
    let a = r(fs::metadata(".").map(|m| m.is_dir()));
    let b = r(fs::metadata("..").map(|m| m.is_dir()));
    let c = r(fs::exists("Cargo.toml"));
    format!("{a} {b} {c}")
}

fn fs_write_read_big() -> String {
    let d = TempDir::new();
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let a = rk(fs::write(d.join("f"), &data));
    let b = fs::read(d.join("f")).map(|v| v == data);
    let mut f = fs::File::open(d.join("f")).unwrap();
    // A single read or write of more than 1 MiB: left out, docs/API.md "Differences from
    // std" under Files: on a green thread one call moves at most 1 MiB. Their `_exact` and
    // `_all` forms move everything.
    let mut buf = vec![0u8; 3 << 20];
    let n = r(f.read_exact(&mut buf).map(|()| buf == data[..3 << 20]));
    let mut f2 = fs::OpenOptions::new()
        .write(true)
        .open(d.join("f"))
        .unwrap();
    let w = r(f2.write_all(&data));
    format!("{a} {:?} {n} {w}", b.map_err(|e| e.kind()))
}

fn fs_read_to_end_size_hint() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abcdef").unwrap();
    let mut f = fs::File::open(d.join("f")).unwrap();
    f.seek(SeekFrom::Start(2)).unwrap();
    let mut v = b"XX".to_vec();
    let a = r(f.read_to_end(&mut v));
    let b = r(f.read_to_end(&mut v));
    format!("{a} {b} {:?}", v)
}

fn fs_proc_read() -> String {
    let a = fs::read_to_string("/proc/self/stat").map(|s| s.len() > 10);
    let b = fs::read("/proc/self/cmdline").map(|s| !s.is_empty());
    let c = rk(fs::read("/proc/self/mem"));
    format!(
        "{:?} {:?} {c}",
        a.map_err(|e| e.kind()),
        b.map_err(|e| e.kind())
    )
}

fn fs_dev_read() -> String {
    let mut f = fs::File::open("/dev/zero").unwrap();
    let mut b = [1u8; 16];
    let a = r(f.read(&mut b));
    let mut n = fs::File::open("/dev/null").unwrap();
    let mut v = Vec::new();
    let c = r(n.read_to_end(&mut v));
    let mut w = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    // One write of 5 MiB: left out, docs/API.md "Differences from std" under Files: on a
    // green thread one call moves at most 1 MiB. `write_all` moves everything.
    let e2 = r(w.write_all(&vec![0u8; 5 << 20]));
    let mut full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let g = rk(full.write(b"x"));
    let h = rk(full.write_all(&vec![0u8; 100000]));
    format!("{a} {:?} {c} {e2} {g} {h}", b)
}

fn fs_fifo_open() -> String {
    let d = TempDir::new();
    let p = d.join("p");
    mkfifo(&p);
    let p2 = p.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut f = std::fs::OpenOptions::new().write(true).open(&p2).unwrap();
        f.write_all(b"fifo data").unwrap();
    });
    let t = Instant::now();
    let mut f = fs::File::open(&p).unwrap();
    let opened = took(t.elapsed(), Duration::from_millis(50));
    let mut s = String::new();
    let a = r(f.read_to_string(&mut s));
    h.join().unwrap();
    use std::os::unix::fs::OpenOptionsExt;
    let nb = rk(fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&p));
    format!("{opened} {a} {s:?} {nb}")
}

fn fs_lock() -> String {
    let d = TempDir::new();
    let f = fs::File::create(d.join("f")).unwrap();
    let g = fs::File::open(d.join("f")).unwrap();
    let a = r(f.try_lock().map_err(std::io::Error::from));
    let b = format!("{:?}", g.try_lock());
    let c = format!("{:?}", g.try_lock_shared());
    let e2 = r(f.unlock());
    let h = r(g.lock_shared());
    let i = format!("{:?}", f.try_lock());
    let j = r(f.lock_shared());
    let k = r(g.unlock());
    let l = r(g.unlock());
    format!("{a} | {b} | {c} | {e2} | {h} | {i} | {j} | {k} | {l}")
}

fn fs_lock_wait() -> String {
    let d = TempDir::new();
    let f = fs::File::create(d.join("f")).unwrap();
    let g = fs::File::open(d.join("f")).unwrap();
    f.lock().unwrap();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(f);
    });
    let t = Instant::now();
    let a = r(g.lock());
    h.join().unwrap();
    format!("{a} {}", took(t.elapsed(), Duration::from_millis(50)))
}

fn fs_set_times() -> String {
    let d = TempDir::new();
    let f = fs::File::create(d.join("f")).unwrap();
    let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let a = r(f.set_modified(t0));
    let b = r(f.set_times(std::fs::FileTimes::new().set_accessed(t0)));
    let m = std::fs::metadata(d.join("f")).unwrap();
    let ro = fs::File::open(d.join("f")).unwrap();
    let c = rk(ro.set_modified(t0));
    format!(
        "{a} {b} {:?} {:?} {c}",
        m.modified().unwrap() == t0,
        m.accessed().unwrap() == t0
    )
}

fn fs_try_clone_pos() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abcdef").unwrap();
    let mut f = fs::File::open(d.join("f")).unwrap();
    let mut g = f.try_clone().unwrap();
    let mut b = [0u8; 2];
    f.read_exact(&mut b).unwrap();
    g.read_exact(&mut b).unwrap();
    format!("{:?}", b)
}

fn fs_sync_on_special() -> String {
    let f = fs::File::open("/dev/null").unwrap();
    let g = fs::File::open("/proc/self/status").unwrap();
    format!(
        "{} {} {} {}",
        rk(f.sync_all()),
        rk(f.sync_data()),
        rk(g.sync_all()),
        rk(fs::File::open("/tmp").unwrap().sync_all())
    )
}

fn fs_write_zero() -> String {
    let d = TempDir::new();
    let mut f = fs::File::create(d.join("f")).unwrap();
    let a = r(f.write(&[]));
    let b = r(f.write_vectored(&[]));
    let c = r(f.write_vectored(&[std::io::IoSlice::new(b"ab"), std::io::IoSlice::new(b"cd")]));
    let mut g = fs::File::open(d.join("f")).unwrap();
    let mut x = [0u8; 1];
    let mut y = [0u8; 5];
    let e2 = r(g.read_vectored(&mut [
        std::io::IoSliceMut::new(&mut x),
        std::io::IoSliceMut::new(&mut y),
    ]));
    format!("{a} {b} {c} {e2} {:?} {:?}", x, y)
}

fn fs_truncate_then_read() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abcdef").unwrap();
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .truncate(true)
        .open(d.join("f"))
        .unwrap();
    let mut v = Vec::new();
    r(f.read_to_end(&mut v))
}

fn fs_remove_file_dir() -> String {
    let d = TempDir::new();
    let a = rk(fs::remove_file(&d));
    let b = rk(fs::remove_file(d.join("missing")));
    format!("{a} | {b}")
}

fn fs_symlink_errors() -> String {
    let d = TempDir::new();
    let a = rk(ufs::symlink("x", &d));
    let b = rk(ufs::symlink("", d.join("e")));
    let c = rk(ufs::symlink("x", d.join("missing/e")));
    format!("{a} | {b} | {c}")
}

fn fs_metadata_root() -> String {
    format!(
        "{} {}",
        r(fs::metadata("/").map(|m| m.is_dir())),
        r(fs::symlink_metadata("/proc/self").map(|m| m.file_type().is_symlink()))
    )
}

fn fs_long_path() -> String {
    let p = "a/".repeat(3000);
    let q = "x".repeat(300);
    format!(
        "{} | {} | {} | {}",
        rk(fs::metadata(&p)),
        rk(fs::File::open(&p)),
        rk(fs::metadata(&q)),
        rk(fs::create_dir(&q))
    )
}

fn fs_exists_perm() -> String {
    format!(
        "{} {}",
        r(fs::exists("/root/x")),
        r(fs::exists("/proc/1/root/x"))
    )
}

fn fs_chown() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"").unwrap();
    let a = rk(ufs::chown(d.join("f"), None, None));
    let b = rk(ufs::chown(d.join("missing"), Some(0), None));
    let c = rk(ufs::lchown(d.join("f"), Some(12345), None));
    format!("{a} {b} {c}")
}

fn fs_open_trailing_slash_create() -> String {
    let d = TempDir::new();
    let a = rk(fs::File::create(d.join("newfile/")));
    let b = rk(fs::write(format!("{}/x/", d.display()), b""));
    format!("{a} | {b}")
}

fn fs_custom_flags() -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    std::os::unix::fs::symlink(d.join("f"), d.join("l")).unwrap();
    let a = rk(fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(d.join("l")));
    let b = rk(fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(d.join("f")));
    let c = rk(fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(d.join("f"))
        .and_then(|mut f| {
            let mut s = String::new();
            f.read_to_string(&mut s)
        }));
    let e2 = rk(fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_EXCL)
        .open(d.join("f")));
    format!("{a} | {b} | {c} | {e2}")
}

fn fs_o_path_ops() -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abc").unwrap();
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(d.join("f"))
        .unwrap();
    let a = r(f.metadata().map(|m| m.len()));
    let mut b2 = [0u8; 2];
    let b = rk(f.read(&mut b2));
    let c = rk(f.write(b"x"));
    let e2 = rk(f.seek(SeekFrom::End(0)));
    let g = rk(f.set_len(0));
    let h = rk(f.sync_all());
    format!("{a} | {b} | {c} | {e2} | {g} | {h}")
}

fn fs_write_append_create_no_write() -> String {
    let d = TempDir::new();
    let a = rk(fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(d.join("f")));
    let b = rk(fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(d.join("g")));
    format!("{a} | {b}")
}

fn fs_read_dir_proc() -> String {
    let n = fs::read_dir("/proc/self/fd").map(|it| it.count() > 0);
    format!("{:?}", n.map_err(|e| e.kind()))
}

fn fs_file_into_std() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"abcdef").unwrap();
    let mut f = fs::File::open(d.join("f")).unwrap();
    let mut b = [0u8; 2];
    f.read_exact(&mut b).unwrap();
    #[allow(clippy::useless_conversion)] // the same type in the std compilation
    let mut s: std::fs::File = f.into();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    rest
}

fn fs_read_line_bufreader() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("f"), b"l1\nl2\r\nl3").unwrap();
    let f = fs::File::open(d.join("f")).unwrap();
    let lines: Vec<_> = std::io::BufReader::new(f)
        .lines()
        .map(|l| l.unwrap())
        .collect();
    format!("{:?}", lines)
}
