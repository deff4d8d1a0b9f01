//! Name resolution: `getaddrinfo`, `getnameinfo`.
//!
//! glibc's resolver reads files and talks to DNS servers through its private aliases, which the
//! hooks do not see, so on a green thread the whole call runs on the blocking pool: the real
//! function, found once with `dlsym(RTLD_NEXT, ..)`, is called there with the caller's pointers
//! while the green thread waits, shielded from cancellation and `timeout()` until it has
//! returned ([`crate::blocking::unblock_scoped`]), so the pointers stay valid. A request that
//! arrived meanwhile is raised at the next zsync park point. Every other caller makes the real
//! call itself. The result is libc's, allocated by libc's `malloc` (`freeaddrinfo` frees it).

use super::{on_green_thread, Borrowed};
use libc::{addrinfo, c_char, c_int, c_void, sockaddr, socklen_t};
use std::ffi::CStr;
use std::sync::OnceLock;

type GetAddrInfo = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const addrinfo,
    *mut *mut addrinfo,
) -> c_int;
type GetNameInfo = unsafe extern "C" fn(
    *const sockaddr,
    socklen_t,
    *mut c_char,
    socklen_t,
    *mut c_char,
    socklen_t,
    c_int,
) -> c_int;

/// The next definition of `name` after this object's (libc's), or null.
fn next(name: &CStr) -> *mut c_void {
    // SAFETY: a NUL-terminated name; RTLD_NEXT is a valid pseudo-handle.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

fn real_getaddrinfo() -> Option<GetAddrInfo> {
    static REAL: OnceLock<usize> = OnceLock::new();
    let addr = *REAL.get_or_init(|| next(c"getaddrinfo") as usize);
    // SAFETY: a non-null address of libc's `getaddrinfo`, which has this signature.
    (addr != 0).then(|| unsafe { std::mem::transmute::<usize, GetAddrInfo>(addr) })
}

fn real_getnameinfo() -> Option<GetNameInfo> {
    static REAL: OnceLock<usize> = OnceLock::new();
    let addr = *REAL.get_or_init(|| next(c"getnameinfo") as usize);
    // SAFETY: a non-null address of libc's `getnameinfo`, which has this signature.
    (addr != 0).then(|| unsafe { std::mem::transmute::<usize, GetNameInfo>(addr) })
}

/// `getaddrinfo(3)`.
///
/// # Safety
///
/// libc's contract: `node` and `service` are null or NUL-terminated, `hints` null or valid,
/// `res` writable.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let Some(real) = real_getaddrinfo() else {
        super::set_errno(libc::ENOSYS);
        return libc::EAI_SYSTEM;
    };
    if !on_green_thread() {
        // SAFETY: the caller's contract.
        return unsafe { real(node, service, hints, res) };
    }
    let args = Borrowed((node, service, hints, res));
    crate::blocking::unblock_scoped(move || {
        let (node, service, hints, res) = args.get();
        // SAFETY: the caller's contract; the caller waits until this returns.
        unsafe { real(node, service, hints, res) }
    })
}

/// `getnameinfo(3)`.
///
/// # Safety
///
/// libc's contract: `addr` valid for `addrlen` bytes, `host` and `serv` null or writable for
/// their lengths.
#[no_mangle]
pub unsafe extern "C" fn getnameinfo(
    addr: *const sockaddr,
    addrlen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    let Some(real) = real_getnameinfo() else {
        super::set_errno(libc::ENOSYS);
        return libc::EAI_SYSTEM;
    };
    if !on_green_thread() {
        // SAFETY: the caller's contract.
        return unsafe { real(addr, addrlen, host, hostlen, serv, servlen, flags) };
    }
    let args = Borrowed((addr, host, serv));
    crate::blocking::unblock_scoped(move || {
        let (addr, host, serv) = args.get();
        // SAFETY: the caller's contract; the caller waits until this returns.
        unsafe { real(addr, addrlen, host, hostlen, serv, servlen, flags) }
    })
}
