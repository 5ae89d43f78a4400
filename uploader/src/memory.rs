//! Giving freed memory back to the system after requests that held zips (uploads, review
//! pages): glibc keeps freed heap in its per-thread arenas, so without a trim the idle
//! service would keep the high-water mark of its largest request (issue 14: ≤ 30 MB idle).

/// Returns the free heap at the top of every arena to the system (glibc; a no-op elsewhere).
#[allow(unsafe_code)]
pub(crate) fn release_freed() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}
