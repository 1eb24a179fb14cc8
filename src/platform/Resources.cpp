#include "platform/Resources.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace ringtrain::platform {

int64_t peakResidentBytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t residentBytes() {
  // /proc/self/statm: the sizes in pages, the resident one second.
  std::ifstream statm("/proc/self/statm");
  int64_t total = 0;
  int64_t resident = 0;
  if (!(statm >> total >> resident)) return 0;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

int64_t heapFreeBytes() {
#ifdef __GLIBC__
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.fordblks);
#else
  return 0;
#endif
}

double processCpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto seconds = [](const timeval& t) { return double(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void retainFreedMemory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);              // every block from the heap, where it can be reused
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // and do not hand the heap's top back
  // One heap for every thread: a batch a data worker assembles is freed by the training thread,
  // and other threads' heaps give freed memory back to the kernel, to be faulted in again.
  mallopt(M_ARENA_MAX, 1);
#endif
}

void releaseFreedMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace ringtrain::platform
