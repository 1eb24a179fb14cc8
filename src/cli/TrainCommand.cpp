#include <iostream>

#include "cli/Commands.h"
#include "comm/Session.h"
#include "flags/TrainOptions.h"
#include "launch/Command.h"
#include "platform/Placement.h"
#include "train/TrainingJob.h"

namespace ringtrain::cli {

int runTrain(int argc, char** argv) {
  train::TrainOptions options;
  platform::Placement placement;
  return launch::runCommand(
      "ringtrain train", argc, argv,
      [&](launch::RankProcess& process) {
        launch::CommandStart start;
        options = train::parseTrainOptions(argc, argv);
        if (options.help) {
          start.help = options.helpText;
          return start;
        }
        const train::TrainConfig& config = options.config;
        placement = platform::placeRank(config.device, config.backend, process.topology(),
                                        config.threads, comm::ncclCompiledIn());
        start.commTimeoutSeconds = config.commTimeoutSeconds;
        start.heartbeatTimeoutSeconds = config.heartbeatTimeoutSeconds;
        return start;
      },
      [&](launch::RankProcess& process) {
        comm::Session& session = process.session();
        placement.communicationThread = session.allowsCommunicationThread();
        platform::applyPlacement(placement);
        if (process.topology().rank == 0 && !placement.threadLimit.empty()) {
          std::cout << "ringtrain: note: " << placement.threadLimit << std::endl;
        }
        launch::prepareForTraining();
        // Gradients travel on their own communicator so that the reducer's communication thread
        // and the main thread's control messages stay apart.
        const std::unique_ptr<comm::Communicator> data =
            session.makeCommunicatorFor(placement.device, placement.backend);
        const std::unique_ptr<comm::Communicator> host = session.makeHostCommunicator();
        train::runTraining(options.config, {process.control(), *host, *data}, placement);
        return 0;
      });
}

}  // namespace ringtrain::cli
