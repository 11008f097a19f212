//! Memory hints for large per-worker tables (no DPDK call; they live here because they need
//! `unsafe`): prefetching a table entry ahead of its use, and asking the kernel to back a big
//! allocation with transparent huge pages before it is first touched.

const CACHE_LINE: usize = 64;

/// Starts loading every cache line of `*r` into all cache levels (x86 `prefetcht0`; a no-op
/// elsewhere). Never faults and changes nothing: it is only a hint.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    prefetch_lines(r, usize::MAX);
}

/// [`prefetch`] of the first `lines` cache lines of `*r` only (at least one, at most the lines
/// `*r` spans): for a big entry of which a reader needs the head.
#[inline(always)]
pub fn prefetch_lines<T>(r: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    hint_lines::<{ core::arch::x86_64::_MM_HINT_T0 }, T>(r, lines);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (r, lines);
}

/// Starts taking every cache line of `*r` into this core's cache for writing (x86
/// `prefetchw`; a no-op elsewhere): for a slot the next store goes to, which another core read
/// last. Never faults and changes nothing.
#[inline(always)]
pub fn prefetch_for_write<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    hint_lines::<{ core::arch::x86_64::_MM_HINT_ET0 }, T>(r, usize::MAX);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// `_mm_prefetch` with `HINT` of the first `lines` cache lines of `*r` (at least one, at most
/// the lines `*r` spans).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hint_lines<const HINT: i32, T>(r: &T, lines: usize) {
    let first = (r as *const T).cast::<i8>();
    let spans = (first as usize % CACHE_LINE + std::mem::size_of::<T>()).div_ceil(CACHE_LINE);
    for line in 0..spans.min(lines).max(1) {
        // SAFETY: a prefetch only hints the cache; it cannot fault or write, whatever the
        // address (wrapping_add keeps the pointer arithmetic itself defined). prefetcht0 is SSE,
        // part of the x86-64 baseline; a cpu without PRFCHW executes prefetchw as a no-op.
        unsafe { core::arch::x86_64::_mm_prefetch::<HINT>(first.wrapping_add(line * CACHE_LINE)) };
    }
}

/// Asks the kernel (`madvise(MADV_HUGEPAGE)`) to back the spare capacity of `v` with
/// transparent huge pages, so that a table of millions of entries costs few TLB entries. Call it
/// on a freshly reserved, untouched `Vec` (pages already touched keep their 4 KiB backing).
/// Returns false when the kernel refused or the range holds no whole 2 MiB page; the table
/// works either way.
pub fn advise_huge_pages<T>(v: &mut Vec<T>) -> bool {
    const HUGE: usize = 2 << 20;
    let start = v.as_mut_ptr() as usize;
    let end = start + v.capacity() * std::mem::size_of::<T>();
    let aligned = start.next_multiple_of(HUGE);
    if aligned >= end || end - aligned < HUGE {
        return false;
    }
    let len = (end - aligned) / HUGE * HUGE;
    // SAFETY: [aligned, aligned + len) lies inside the Vec's own allocation (its capacity), which
    // the Vec keeps alive during the call; MADV_HUGEPAGE changes how the kernel backs those
    // pages, never their contents, so no Rust value is affected.
    unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_pages_are_advised_for_big_untouched_tables_only() {
        let mut small: Vec<u64> = Vec::with_capacity(1000);
        assert!(
            !advise_huge_pages(&mut small),
            "no whole 2 MiB page in 8 KB"
        );
        let mut big: Vec<u64> = Vec::with_capacity(4 << 20); // 32 MiB
        let advised = advise_huge_pages(&mut big);
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if thp.contains("[madvise]") || thp.contains("[always]") {
            assert!(advised, "madvise(MADV_HUGEPAGE) refused with THP {thp:?}");
        }
        big.resize(4 << 20, 7);
        assert!(big.iter().all(|&x| x == 7), "the hint changes no contents");
        prefetch(&big[12345]);
        prefetch(&big);
        prefetch_lines(&big[7], 2);
        prefetch_lines(&big, 0);
        prefetch_for_write(&big[99]);
    }
}
