//! glibc's malloc settings for a binary that trains with lane tensors.
//!
//! By default glibc serves every allocation above 128 KiB (its dynamic mmap
//! threshold grows to at most 32 MiB) with its own `mmap` and returns it to the
//! kernel on `free`. A training step allocates and frees the same large lane
//! tensors every step, so each step page-faults them all in again: on the 2-core
//! development machine, most of a `d = 128` forward-Laplacian step was kernel time
//! (`benches/laplacian.rs --step`, `/usr/bin/time`). Keeping freed memory in the
//! heap, as PyTorch's and XLA's caching allocators do, removes that.
//!
//! A library must not change the process's allocator, so burn-nested itself does
//! not; a binary can, with this call or the equivalent environment variables
//! (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`).

/// Serves large allocations from the heap and keeps freed memory there (glibc
/// only; elsewhere a no-op). Call once, first thing in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes malloc's parameters; it is called before
    // any other thread exists.
    unsafe {
        // Only allocations above 1 GiB get their own mapping ...
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        // ... no trimming of the heap's top, and room to grow it in large steps.
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
