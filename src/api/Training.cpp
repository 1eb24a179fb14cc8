#include "RuntimeInternals.h"
#include "launch/RankProcess.h"
#include "ringtrain/Runtime.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/train/Trainer.h"
#include "train/TrainingJob.h"

namespace ringtrain::train {

RunSummary runTraining(Runtime& runtime, const TrainConfig& config, const TrainHooks& hooks) {
  // As `ringtrain train` prepares its process. The runtime's placement stands for config.device,
  // config.backend and config.threads, which chose it; its timeouts are the ones recorded.
  launch::prepareForTraining();
  TrainConfig settings = config;
  settings.commTimeoutSeconds = runtime.commTimeoutSeconds();
  settings.heartbeatTimeoutSeconds = RuntimeInternals::heartbeatTimeoutSeconds(runtime);
  try {
    return runTraining(
        settings,
        {runtime.controlCommunicator(), runtime.hostCommunicator(), runtime.deviceCommunicator()},
        RuntimeInternals::placement(runtime), hooks);
  } catch (const comm::CollectiveFailure&) {
    throw;  // every rank has it
  } catch (const std::exception& error) {
    // This rank alone failed, in the middle of training, where the others wait for it.
    runtime.abortAfterFailure(error);
  }
}

}  // namespace ringtrain::train
