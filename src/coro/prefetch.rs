//! A hint to the CPU to fetch a cache line before it is needed, for the switch into a green
//! thread that waited long enough for its stack to leave the cache.
//!
//! A prefetch never faults (an unmapped or guard-page address is simply not fetched) and changes
//! no memory: calling it with any address is sound. Targets without a baseline prefetch
//! instruction get a no-op.

/// The size of a cache line on the targets zsync runs on (x86_64, aarch64, riscv64): the step
/// between two prefetches that cover a range.
pub(crate) const CACHE_LINE: usize = 64;

/// Asks for the cache line holding `addr` in every level of the cache.
#[inline(always)]
pub(crate) fn prefetch(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` needs SSE, which every x86_64 CPU has; it reads nothing
    // architecturally and never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr.cast())
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` is a hint in the base instruction set: it never faults and changes no
    // register or memory.
    unsafe {
        core::arch::asm!(
            "prfm pldl1keep, [{addr}]",
            addr = in(reg) addr,
            options(nostack, readonly, preserves_flags)
        )
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = addr; // riscv64's prefetch (Zicbop) is not in the base ISA
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::prefetch;
    use crate::coro::{Stack, MIN_STACK_SIZE};

    #[test]
    fn a_prefetch_of_any_address_is_harmless() {
        // Null, the top of the address space, and a guard page (mapped with no access): a load
        // from any of them would fault; a prefetch must not.
        let stack = Stack::new(MIN_STACK_SIZE).unwrap();
        let guard = stack.limit().wrapping_sub(1);
        for addr in [
            std::ptr::null(),
            usize::MAX as *const u8,
            guard.cast_const(),
        ] {
            prefetch(addr);
        }
    }
}
