#include "ringtrain/Runtime.h"

#include <cstring>

#include "RuntimeInternals.h"
#include "comm/Session.h"
#include "launch/CommTimeout.h"
#include "launch/RankProcess.h"
#include "platform/Placement.h"
#include "ringtrain/comm/Agreement.h"

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
  State(int& argc, char**& argv) : process(programName(argc, argv), argc, argv) {}
  launch::RankProcess process;
  double commTimeoutSeconds = 0;
  double heartbeatTimeoutSeconds = 0;
  platform::Placement placement;
  std::unique_ptr<comm::Communicator> host;
  std::unique_ptr<comm::Communicator> device;
};

Runtime::Runtime(int& argc, char**& argv, const RuntimeOptions& options)
    : state_(std::make_unique<State>(argc, argv)) {
  launch::RankProcess& process = state_->process;
  launch::checkCommTimeout(options.commTimeoutSeconds, "RuntimeOptions::commTimeoutSeconds");
  state_->commTimeoutSeconds = options.commTimeoutSeconds;
  state_->heartbeatTimeoutSeconds = options.heartbeatTimeoutSeconds;
  launch::checkHeartbeatTimeout(options.heartbeatTimeoutSeconds,
                                "RuntimeOptions::heartbeatTimeoutSeconds");
  process.watchLiveness(options.heartbeatTimeoutSeconds);
  process.watchCommunication(options.commTimeoutSeconds);
  comm::runOnAllRanks(process.control(), [&] {
    state_->placement = platform::placeRank(options.device, options.backend, process.topology(),
                                            options.threads, comm::ncclCompiledIn());
  });
  comm::Session& session = process.session();
  state_->placement.communicationThread = session.allowsCommunicationThread();
  try {
    platform::applyPlacement(state_->placement);
    // Its own channel, so that a communication thread on it never meets the control messages.
    state_->device =
        session.makeCommunicatorFor(state_->placement.device, state_->placement.backend);
    state_->host = session.makeHostCommunicator();
  } catch (const std::exception& error) {
    // One rank failed (a GPU that would not start, say) where the others wait in a collective.
    process.abortAfterFailure(error);
  }
}

Runtime::~Runtime() = default;

int Runtime::rank() const {
  return state_->process.topology().rank;
}
int Runtime::worldSize() const {
  return state_->process.topology().size;
}
int Runtime::localRank() const {
  return state_->process.topology().localRank;
}
const c10::Device& Runtime::device() const {
  return state_->placement.device;
}
comm::Communicator& Runtime::deviceCommunicator() {
  return *state_->device;
}
comm::Communicator& Runtime::controlCommunicator() {
  return state_->process.control();
}
comm::Communicator& Runtime::hostCommunicator() {
  return *state_->host;
}

void Runtime::onAllRanks(const std::function<void()>& step) {
  comm::runOnAllRanks(state_->process.control(), step);
}

void Runtime::abort(int exitCode) const {
  state_->process.session().abortJob(exitCode);
}

void Runtime::abortAfterFailure(const std::exception& error) const {
  state_->process.abortAfterFailure(error);
}

double Runtime::commTimeoutSeconds() const {
  return state_->commTimeoutSeconds;
}

const platform::Placement& RuntimeInternals::placement(const Runtime& runtime) {
  return runtime.state_->placement;
}

double RuntimeInternals::heartbeatTimeoutSeconds(const Runtime& runtime) {
  return runtime.state_->heartbeatTimeoutSeconds;
}

}  // namespace ringtrain
