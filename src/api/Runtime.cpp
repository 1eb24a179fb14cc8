#include "ringtrain/Runtime.h"

#include <cmath>
#include <cstring>
#include <iostream>

#include "comm/Session.h"
#include "launch/RankFailure.h"
#include "platform/Placement.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"

namespace ringtrain {
namespace {

// Messages begin with the program's name, as the commands' begin with "ringtrain <command>".
std::string programName(int argc, char** argv) {
  if (argc < 1 || argv == nullptr || argv[0] == nullptr) return "ringtrain";
  const char* slash = std::strrchr(argv[0], '/');
  return slash ? slash + 1 : argv[0];
}

}  // namespace

struct Runtime::State {
  State(int& argc, char**& argv) : session(&argc, &argv), program(programName(argc, argv)) {}
  comm::Session session;
  std::string program;
  double commTimeoutSeconds = 0;
  platform::Placement placement;
  std::unique_ptr<comm::Communicator> control;
  std::unique_ptr<comm::Communicator> host;
  std::unique_ptr<comm::Communicator> device;
};

Runtime::Runtime(int& argc, char**& argv, const RuntimeOptions& options)
    : state_(std::make_unique<State>(argc, argv)) {
  comm::Session& session = state_->session;
  // As --comm-timeout takes it: 0 (wait forever), or 1 ms to a week.
  const double timeout = options.commTimeoutSeconds;
  RINGTRAIN_USER_CHECK(
      timeout == 0 || (timeout >= 0.001 && timeout <= 7 * 24 * 3600),
      "the communication timeout must be 0 (none) or 0.001 to 604800 seconds, got " << timeout);
  state_->control = session.makeCpuCommunicator();
  state_->commTimeoutSeconds = options.commTimeoutSeconds;
  launch::watchCommunication(session, state_->program, options.commTimeoutSeconds);
  comm::runOnAllRanks(*state_->control, [&] {
    state_->placement = platform::placeRank(options.device, options.backend, session.topology(),
                                            options.threads, comm::ncclCompiledIn());
  });
  state_->placement.communicationThread = session.allowsCommunicationThread();
  try {
    platform::applyPlacement(state_->placement);
    // Its own channel, so that a communication thread on it never meets the control messages.
    state_->device =
        session.makeCommunicatorFor(state_->placement.device, state_->placement.backend);
    state_->host = session.makeHostCommunicator();
  } catch (const std::exception& error) {
    // One rank failed (a GPU that would not start, say) where the others wait in a collective.
    launch::abortAfterRankFailure(state_->program, session, error);
  }
}

Runtime::~Runtime() = default;

int Runtime::rank() const {
  return state_->session.topology().rank;
}
int Runtime::worldSize() const {
  return state_->session.topology().size;
}
int Runtime::localRank() const {
  return state_->session.topology().localRank;
}
const platform::Placement& Runtime::placement() const {
  return state_->placement;
}
const c10::Device& Runtime::device() const {
  return state_->placement.device;
}
comm::Communicator& Runtime::deviceCommunicator() {
  return *state_->device;
}
comm::Communicator& Runtime::controlCommunicator() {
  return *state_->control;
}
comm::Communicator& Runtime::hostCommunicator() {
  return *state_->host;
}

void Runtime::onAllRanks(const std::function<void()>& step) {
  comm::runOnAllRanks(*state_->control, step);
}

void Runtime::abort(int exitCode) const {
  state_->session.abortJob(exitCode);
}

void Runtime::abortAfterFailure(const std::exception& error) const {
  launch::abortAfterRankFailure(state_->program, state_->session, error);
}

double Runtime::commTimeoutSeconds() const {
  return state_->commTimeoutSeconds;
}

}  // namespace ringtrain
