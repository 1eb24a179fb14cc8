// Resources made once per device on first use and kept until the process ends: never destroyed.
//
// The CUDA caching allocator remembers the streams a block was used on (recordStream) and, when
// the block is freed, records an event on each of them. A block can be freed long after the object
// that used the stream is gone: a thread-local buffer at thread exit, a library user's tensor after
// the Runtime. A stream that lives as long as the process is the only lifetime that outlasts every
// such block, which is why the communication streams live here and not in a communicator.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <utility>

namespace ringtrain::comm {

template <typename Handle>
class PerDevice {
 public:
  explicit PerDevice(std::function<Handle(int device)> make) : make_(std::move(make)) {}
  PerDevice(const PerDevice&) = delete;
  PerDevice& operator=(const PerDevice&) = delete;

  // The device's handle, made by the first caller (others wait for it). A `make` that throws
  // leaves nothing behind: the next call tries again.
  Handle of(int device) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto found = made_.find(device);
    if (found != made_.end()) return found->second;
    Handle made = make_(device);
    made_.emplace(device, made);
    return made;
  }

 private:
  std::mutex mutex_;
  std::map<int, Handle> made_;
  std::function<Handle(int)> make_;
};

}  // namespace ringtrain::comm
