#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "comm/Session.h"

namespace ringtrain::testing {
namespace {
comm::Session* activeSession = nullptr;
std::unique_ptr<comm::Communicator> world;
}  // namespace

comm::Communicator& worldCommunicator() {
  return *world;
}
comm::Session& session() {
  return *activeSession;
}

}  // namespace ringtrain::testing

int main(int argc, char** argv) {
  ringtrain::comm::Session session(&argc, &argv);
  ringtrain::testing::activeSession = &session;
  ringtrain::testing::world = session.makeCpuCommunicator();
  ::testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  ringtrain::testing::world.reset();
  return failed;
}
