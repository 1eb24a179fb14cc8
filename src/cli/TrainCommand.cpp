#include <iostream>

#include "cli/Commands.h"
#include "comm/Session.h"
#include "flags/TrainOptions.h"
#include "launch/RankFailure.h"
#include "platform/Placement.h"
#include "platform/Resources.h"
#include "platform/StopSignals.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "train/TrainingJob.h"

namespace ringtrain::cli {

int runTrain(int argc, char** argv) {
  comm::Session session(&argc, &argv);
  const comm::Topology& topology = session.topology();
  const auto cpu = session.makeCpuCommunicator();
  try {
    train::TrainOptions options;
    platform::Placement placement;
    comm::runOnAllRanks(*cpu, [&] {
      options = train::parseTrainOptions(argc, argv);
      if (!options.help) {
        placement = platform::placeRank(options.config.device, options.config.backend, topology,
                                        options.config.threads, comm::ncclCompiledIn());
      }
    });
    if (options.help) {
      if (topology.rank == 0) std::cout << options.helpText;
      return 0;
    }
    launch::watchCommunication(session, "ringtrain train", options.config.commTimeoutSeconds);
    placement.communicationThread = session.allowsCommunicationThread();
    platform::applyPlacement(placement);
    if (topology.rank == 0 && !placement.threadLimit.empty()) {
      std::cout << "ringtrain: note: " << placement.threadLimit << std::endl;
    }
    platform::retainFreedMemory();
    platform::installStopSignals();  // after MPI_Init, which may install handlers of its own
    train::TrainConfig& config = options.config;
    // Gradients travel on their own communicator so that the reducer's communication thread and
    // the main thread's control messages stay apart.
    const std::unique_ptr<comm::Communicator> data =
        session.makeCommunicatorFor(placement.device, placement.backend);
    const std::unique_ptr<comm::Communicator> host = session.makeHostCommunicator();
    train::runTraining(config, {*cpu, *host, *data}, placement);
    return 0;
  } catch (const comm::CollectiveFailure& failure) {
    return launch::reportCollectiveFailure("ringtrain train", topology, failure);
  } catch (const std::exception& error) {
    launch::abortAfterRankFailure("ringtrain train", session, error);
  }
}

}  // namespace ringtrain::cli
