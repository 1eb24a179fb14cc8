#include <iostream>

#include "ErrorText.h"
#include "ringtrain/cli/Commands.h"
#include "ringtrain/cli/TrainOptions.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/comm/Session.h"
#include "ringtrain/platform/Placement.h"
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
        placement = platform::placeRank(options.config.device, topology, options.config.threads,
                                        comm::ncclCompiledIn());
      }
    });
    if (options.help) {
      if (topology.rank == 0) std::cout << options.helpText;
      return 0;
    }
    platform::applyPlacement(placement);
    std::unique_ptr<comm::Communicator> gpu;
    if (placement.device.is_cuda()) gpu = session.makeCudaCommunicator(placement.device.index());
    train::runTraining(options.config, *cpu, gpu ? *gpu : *cpu, placement);
    return 0;
  } catch (const comm::CollectiveFailure& failure) {
    // Every rank got here together; one of them says why.
    if (failure.reporter()) {
      if (failure.exitCode() == 2) {
        std::cerr << "ringtrain train: error: " << failure.what() << std::endl;
      } else {
        std::cerr << "ringtrain train: internal error on rank " << topology.rank << " ("
                  << topology.host << "): " << failure.what() << std::endl;
      }
    }
    return failure.exitCode();
  } catch (const std::exception& error) {
    // Only this rank failed; the others may be waiting in a collective, so end the whole job.
    std::cerr << "ringtrain train: error on rank " << topology.rank << " (" << topology.host
              << "): " << errorText(error) << std::endl;
    session.abortJob(dynamic_cast<const UserError*>(&error) ? 2 : 1);
  }
}

}  // namespace ringtrain::cli
