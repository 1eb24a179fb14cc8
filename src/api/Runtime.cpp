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
  RINGTRAIN_USER_CHECK(options.commTimeoutSeconds >= 0 && std::isfinite(options.commTimeoutSeconds),
                       "the communication timeout must be a number of seconds, 0 or more");
  state_->control = session.makeCpuCommunicator();
  state_->commTimeoutSeconds = options.commTimeoutSeconds;
  launch::watchCommunication(session, state_->program, options.commTimeoutSeconds);
  comm::runOnAllRanks(*state_->control, [&] {
    state_->placement = platform::placeRank(options.device, options.backend, session.topology(),
                                            options.threads, comm::ncclCompiledIn());
  });
  state_->placement.communicationThread = session.allowsCommunicationThread();
  platform::applyPlacement(state_->placement);
  // Its own channel, so that a communication thread on it never meets the control messages.
  state_->device = session.makeCommunicatorFor(state_->placement.device, state_->placement.backend);
  state_->host = session.makeHostCommunicator();
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
