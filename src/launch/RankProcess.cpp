#include "RankProcess.h"

#include <utility>

#include "RankFailure.h"
#include "health/FlightRecord.h"
#include "platform/Resources.h"
#include "platform/StopSignals.h"

namespace ringtrain::launch {

RankProcess::RankProcess(std::string program, int& argc, char**& argv)
    : program_(std::move(program)),
      launchedAs_(checkBeforeMpi(launchEnvironment())),
      session_(&argc, &argv),
      control_(session_.makeCpuCommunicator()) {
  checkLaunch(launchedAs_, session_.topology().size);
  health::keepFlightRecord(session_.topology(), session_.callLog());
}

RankProcess::~RankProcess() = default;

void RankProcess::watchCommunication(double seconds) {
  launch::watchCommunication(session_, program_, seconds, heartbeats_);
}

void RankProcess::watchLiveness(double seconds) {
  heartbeats_ = launch::watchLiveness(*control_, program_, seconds);
}

int RankProcess::reportCollectiveFailure(const comm::CollectiveFailure& failure) const {
  return launch::reportCollectiveFailure(program_, topology(), failure);
}

void RankProcess::abortAfterFailure(const std::exception& error) {
  // This rank reports its own end: a hub tells the others to write their records, another rank
  // says goodbye.
  if (heartbeats_) heartbeats_->endJob();
  abortAfterRankFailure(program_, session_, error);
}

void prepareForTraining() {
  platform::retainFreedMemory();
  platform::installStopSignals();
}

}  // namespace ringtrain::launch
