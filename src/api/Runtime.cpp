#include "ringtrain/Runtime.h"

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/comm/Session.h"

namespace ringtrain {

struct Runtime::State {
  State(int& argc, char**& argv) : session(&argc, &argv) {}
  comm::Session session;
  platform::Placement placement;
  std::unique_ptr<comm::Communicator> control;
  std::unique_ptr<comm::Communicator> host;
  std::unique_ptr<comm::Communicator> device;
};

Runtime::Runtime(int& argc, char**& argv, const RuntimeOptions& options)
    : state_(std::make_unique<State>(argc, argv)) {
  comm::Session& session = state_->session;
  state_->control = session.makeCpuCommunicator();
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

}  // namespace ringtrain
