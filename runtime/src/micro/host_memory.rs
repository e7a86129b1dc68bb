//! Giving the host's memory back when Micros go to sleep (S11, SPEC §7).
//!
//! A sleeping Micro's guest memory is already gone: the pooling allocator decommits a slot's
//! pages when its instance is dropped. What stays is host heap the instances' stores, tables
//! and request buffers used: glibc keeps freed memory in its per-thread arenas, so after a
//! burst the process would stay at its peak. Here the freed arena pages are returned to the
//! OS with `malloc_trim`. Other platforms' allocators return memory on their own terms: there
//! this does nothing.
//!
//! It must not be called on the request path: a trim walks every arena.

/// Returns the heap's free pages to the OS (glibc on Linux); a no-op elsewhere.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds free; callable from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
