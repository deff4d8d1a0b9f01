//! `fcntl` (and glibc's other names for it, `fcntl64` and `__fcntl`) and `ioctl`: libc's own
//! behaviour, the system call made directly, plus bookkeeping. `F_SETFL` and `FIONBIO`, which
//! can change `O_NONBLOCK`, make the hooks ask every fd's mode again once the call has returned
//! (see the `fd` module: the hooks remember a mode they read until then); `F_DUPFD` and
//! `F_DUPFD_CLOEXEC` hand out a number, whose slot is forgotten. Everything else, for every
//! caller, is the system call and nothing more.
//!
//! # ABI
//!
//! Both are C variadic functions (`int fcntl(int, int, ...)`, `int ioctl(int, unsigned long,
//! ...)`), which stable Rust cannot define. They are defined here with one more fixed,
//! register-sized argument, which is sound only where a caller passes a variadic integer or
//! pointer argument exactly where the callee of a fixed third argument of that size reads it:
//! - x86_64 System V: variadic arguments go in the same registers as fixed ones (the third in
//!   `rdx`); the caller's extra `al` (the number of vector registers used) is only read by a
//!   variadic callee.
//! - aarch64 AAPCS64 on Linux (not Apple's variant, which puts variadic arguments on the stack):
//!   the same registers (`x2`).
//! - riscv64 LP64/LP64D: variadic arguments go where fixed ones would, except those of twice
//!   the register size (an aligned pair), which neither call takes (`a2`).
//!
//! Elsewhere the module is empty ([`HOOKED`] is false) and the hooks ask the kernel for an fd's
//! mode at every wait. The argument is read as the full register, as glibc reads it (`va_arg(ap,
//! void *)`), and passed on unchanged: an `int` argument's upper half, which the ABI leaves
//! undefined, reaches the kernel as it does from glibc (which reads it as an `unsigned int`).
//! glibc is the libc whose behaviour is reproduced, hence `target_env = "gnu"` too.

/// Whether `fcntl` and `ioctl` are hooked on this target, so that the hooks may remember an fd's
/// `O_NONBLOCK` (see the module docs for the targets).
pub(super) const HOOKED: bool = cfg!(all(
    target_env = "gnu",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
));

#[cfg(all(
    target_env = "gnu",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
))]
mod hooks {
    use super::super::fd;
    use libc::{c_int, c_ulong};

    /// `F_GETOWN_EX` and `F_OWNER_PGRP` (asm-generic/fcntl.h, the same on the three targets).
    const F_GETOWN_EX: c_int = 16;
    const F_OWNER_PGRP: c_int = 2;

    /// `struct f_owner_ex`.
    #[repr(C)]
    struct OwnerEx {
        kind: c_int,
        pid: libc::pid_t,
    }

    /// The kernel's fcntl, as glibc makes it.
    fn sys_fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
        if cmd == libc::F_GETOWN {
            // glibc asks F_GETOWN_EX: F_GETOWN's answer for a process group is its negated
            // id, which a small group id would make look like an error.
            let mut owner = OwnerEx { kind: 0, pid: 0 };
            // SAFETY: a writable `f_owner_ex`.
            let r = unsafe {
                libc::syscall(libc::SYS_fcntl, fd, F_GETOWN_EX, &mut owner as *mut OwnerEx)
            };
            if r == -1 {
                return -1;
            }
            return if owner.kind == F_OWNER_PGRP {
                -owner.pid
            } else {
                owner.pid
            };
        }
        // SAFETY: what `arg` points to, if anything, is the caller's (checked by the kernel:
        // EFAULT); the kernel reads only what `cmd` says.
        unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) as c_int }
    }

    /// `fcntl(2)`. See the module docs for the ABI of the third argument (absent, an `int` or a
    /// pointer, as `cmd` says).
    ///
    /// # Safety
    ///
    /// libc's contract: `arg` is what `cmd` asks for (a pointer valid for the command's struct).
    #[no_mangle]
    pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
        let r = sys_fcntl(fd, cmd, arg);
        match cmd {
            // After the call: a wait that read the old mode in between is then asked again.
            libc::F_SETFL => fd::nonblocking_changed(),
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC if r >= 0 => fd::forget(r),
            _ => {}
        }
        r
    }

    /// `fcntl64`: glibc's name for `fcntl` in code built with `_FILE_OFFSET_BITS=64` (the same
    /// function on a 64-bit target).
    ///
    /// # Safety
    ///
    /// As [`fcntl`].
    #[no_mangle]
    pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
        // SAFETY: forwarded.
        unsafe { fcntl(fd, cmd, arg) }
    }

    /// `__fcntl`: an older exported name of glibc's `fcntl`.
    ///
    /// # Safety
    ///
    /// As [`fcntl`].
    #[no_mangle]
    pub unsafe extern "C" fn __fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
        // SAFETY: forwarded.
        unsafe { fcntl(fd, cmd, arg) }
    }

    /// `ioctl(2)`. `request` is compared as the kernel reads it, 32 bits (musl-built code
    /// passes an `int`, whose upper half is undefined).
    ///
    /// # Safety
    ///
    /// libc's contract: `arg` is what `request` asks for.
    #[no_mangle]
    pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: c_ulong) -> c_int {
        // SAFETY: as in `sys_fcntl`, for `request`.
        let r = unsafe { libc::syscall(libc::SYS_ioctl, fd, request, arg) as c_int };
        if request as u32 == libc::FIONBIO as u32 {
            fd::nonblocking_changed();
        }
        r
    }
}
