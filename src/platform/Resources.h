// What this process has used so far, for summaries and benchmarks.
#pragma once

#include <cstdint>

namespace ringtrain::platform {

// Peak resident set size of this process, in bytes (0 where the OS does not say).
int64_t peakResidentBytes();

// Resident set size of this process now, in bytes (0 where the OS does not say).
int64_t residentBytes();

// Bytes the allocator holds free inside the process (kept by retainFreedMemory, or fragments
// between live blocks): resident, but not in use. 0 off glibc.
int64_t heapFreeBytes();

// CPU time (user + system) used by all threads of this process so far, in seconds.
double processCpuSeconds();

// Makes freed memory stay in the process for the next allocation of the same size instead of going
// back to the OS. Training allocates and frees the same large tensors every step; glibc serves
// blocks above 32 MiB with fresh mmap()s, and faulting their pages in again costs more than the
// arithmetic that fills them (measured in docs/BENCHMARKS.md). The price is that the resident size
// stays at its peak, which a training process reaches in its first step anyway. No-op off glibc.
void retainFreedMemory();

// Hands the pages of free blocks back to the OS once: after set-up frees memory that the steps
// will not reuse as it lies (the parameters' first storage, once sharded data parallelism has
// moved them into bucket-shaped tensors), so that it does not stay resident. No-op off glibc.
void releaseFreedMemory();

}  // namespace ringtrain::platform
