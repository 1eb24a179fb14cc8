// The reducer's communication thread runs each job on the stream its submitter had current, so
// that a bucket copied to the host is read after the kernels that packed it, on whatever stream
// they ran. Shown with c10's fake device guard (thread-local current streams, as CUDA's are) on a
// device type LibTorch leaves to extensions.
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/core/impl/FakeGuardImpl.h>
#include <gtest/gtest.h>

#include <future>
#include <stdexcept>

#include "ddp/CommThread.h"

namespace ringtrain::ddp {
namespace {

constexpr c10::DeviceType kFake = c10::DeviceType::PrivateUse1;
C10_REGISTER_GUARD_IMPL(PrivateUse1, c10::impl::FakeGuardImpl<kFake>);

c10::StreamId currentStreamId(c10::Device device) {
  return c10::impl::getDeviceGuardImpl(kFake)->getStream(device).id();
}

TEST(CommThread, AJobRunsOnTheStreamItsSubmitterHadCurrent) {
  const c10::Device device(kFake, 1);
  const c10::Stream users(c10::Stream::UNSAFE, device, 7);
  CommThread thread;
  // Held until the submitter has left its stream, so the job cannot borrow it by timing.
  std::promise<void> release;
  thread.submit([gate = release.get_future().share()] { gate.wait(); });
  c10::StreamId seen = -1;
  c10::StreamId afterwards = -1;
  {
    const c10::StreamGuard onUsersStream(users);
    ASSERT_EQ(currentStreamId(device), 7);
    thread.submit([&] { seen = currentStreamId(device); }, device);
  }
  thread.submit([&] { afterwards = currentStreamId(device); });  // a CPU job: no stream
  release.set_value();
  thread.drain();
  EXPECT_EQ(seen, 7);
  EXPECT_EQ(afterwards, 0) << "the thread went back to its own default stream";
  EXPECT_EQ(currentStreamId(device), 0);
}

TEST(CommThread, AFailureReachesDrainAndDropsTheJobsAfterIt) {
  CommThread thread;
  std::promise<void> release;
  thread.submit([gate = release.get_future().share()] { gate.wait(); });
  int ran = 0;
  thread.submit([] { throw std::runtime_error("peer gone"); });
  thread.submit([&] { ++ran; });
  release.set_value();
  EXPECT_THROW(thread.drain(), std::runtime_error);
  EXPECT_EQ(ran, 0);
  thread.submit([&] { ++ran; });
  thread.drain();
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace ringtrain::ddp
