#include <iostream>

#include "RankFailure.h"
#include "ringtrain/cli/Commands.h"
#include "ringtrain/cli/TrainOptions.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/comm/Session.h"
#include "ringtrain/platform/Placement.h"
#include "ringtrain/platform/Resources.h"
#include "ringtrain/platform/StopSignals.h"
#include "ringtrain/train/Trainer.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int runTrain(int argc, char** argv) {
  comm::Session session(&argc, &argv);
  const comm::Topology& topology = session.topology();
  const auto cpu = session.makeCpuCommunicator();
  try {
    ParsedTrainOptions options;
    platform::Placement placement;
    comm::runOnAllRanks(*cpu, [&] {
      options = parseTrainOptions(argc, argv);
      if (!options.help) {
        placement = platform::placeRank(options.config.device, options.config.backend, topology,
                                        options.config.threads, comm::ncclCompiledIn());
      }
    });
    if (options.help) {
      if (topology.rank == 0) std::cout << options.helpText;
      return 0;
    }
    session.limitWaits(
        options.commTimeout,
        [&topology, timeout = options.commTimeout](const comm::OpenWaits::Expired& expired) {
          abortAfterCommTimeout("train", topology, expired, timeout);
        },
        commTimeoutHoldBack(topology));
    placement.communicationThread = session.allowsCommunicationThread();
    platform::applyPlacement(placement);
    if (topology.rank == 0 && !placement.threadLimit.empty()) {
      std::cout << "ringtrain: note: " << placement.threadLimit << std::endl;
    }
    platform::retainFreedMemory();
    platform::installStopSignals();  // after MPI_Init, which may install handlers of its own
    train::TrainConfig& config = options.config;
    if (!placement.device.is_cuda() && !session.allowsCommunicationThread() &&
        config.reducer.overlapMode != ddp::OverlapMode::kOff) {
      if (config.reducer.overlapMode == ddp::OverlapMode::kOn && topology.rank == 0) {
        std::cerr << "ringtrain: warning: --overlap on ignored: this MPI library does not allow "
                     "a communication thread (MPI_THREAD_SERIALIZED)"
                  << std::endl;
      }
      config.reducer.overlapMode = ddp::OverlapMode::kOff;
    }
    // Gradients travel on their own communicator so that the reducer's communication thread and
    // the main thread's control messages stay apart.
    const std::unique_ptr<comm::Communicator> data =
        session.makeCommunicatorFor(placement.device, placement.backend);
    const std::unique_ptr<comm::Communicator> host = session.makeHostCommunicator();
    train::runTraining(config, {*cpu, *host, *data}, placement);
    return 0;
  } catch (const comm::CollectiveFailure& failure) {
    return reportCollectiveFailure("train", topology, failure);
  } catch (const std::exception& error) {
    abortAfterRankFailure("train", session, error);
  }
}

}  // namespace ringtrain::cli
