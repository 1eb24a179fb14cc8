// The decisions a training run makes from its configuration and what it finds, outside the step
// itself: checks of the flags, the model's shape, the reducer's options, input threads, progress
// bar, how an epoch's input is dealt out, the agreement on a stop, and the identity a checkpoint
// must share with the run resuming it.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "RunPlan.h"
#include "data/BatchPrefetcher.h"
#include "ddp/Reducer.h"
#include "platform/Placement.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"
#include "train/Checkpointer.h"
#include "train/RunLog.h"
#include "train/StreamedEpoch.h"
#include "train/TrainingData.h"
#include "train/TrainingJob.h"

namespace ringtrain::train {

// UserError naming the flag for a setting no run can have.
void validateConfig(const TrainConfig& config);

// What the run implies: every micro-batch of a pipeline has the same shape, so a batch left
// incomplete at the end of an epoch is dropped; overlap is off on CPU where MPI allows no
// communication thread (`report`: this rank warns when --overlap on was asked for).
TrainConfig withImpliedSettings(TrainConfig config, const platform::Placement& placement,
                                bool report);

// A pipeline's main thread sends and receives during backward, so the reducer may not make MPI
// calls from a thread of its own at the same time (MPI_THREAD_SERIALIZED); NCCL's reducer has no
// such thread.
bool overlapExcluded(const TrainConfig& config, const comm::Communicator& data);

// config.reducer with overlap decided for this placement.
ddp::ReducerOptions resolveReducerOptions(const TrainConfig& config, const comm::Communicator& data,
                                          const platform::Placement& placement);

bool showProgressBar(ProgressMode mode);

// The hooks a run trains with: `hooks`, on top of the autoencoder's objective for --model
// autoencoder (its loss replaced by theirs, their metrics added).
TrainHooks hooksFor(const TrainConfig& config, const TrainHooks& hooks);

// The model this run trains: --model with the data's sample shape (a stream's samples must have
// the validation set's) and class count, or kind "custom" when TrainHooks::makeModel builds it.
models::ModelSpec modelSpecFor(const TrainConfig& config, const TrainingData& data,
                               const TrainHooks& hooks);

// A model that predicts every position (a causal language model) needs a target at every
// position: token data sets for training and validation, unless the hooks make the targets.
// UserError naming the model and the data otherwise.
void checkTargets(const models::ModelSpec& spec, const models::Classifier& model,
                  const TrainingData& data, const TrainHooks& hooks);

// Where an epoch's batches come from on this rank.
struct EpochSource {
  const TrainConfig& config;
  const models::ModelSpec& model;
  const TrainingData& data;
  int sharers = 1;         // ranks dealing the training samples out between them
  int sharerRank = 0;      // this rank's place among them
  int64_t firstEpoch = 0;  // the run's first (streams are numbered from it)
  comm::Communicator& control;
  comm::Communicator& host;
  c10::Device device;
  data::PrefetchOptions prefetch;
};

// This rank's micro-batches of one epoch: a stream's, or its share of the training samples from
// `firstSample` on. Collective (the micro-batch count is agreed).
std::unique_ptr<EpochInput> openEpoch(const EpochSource& source, int64_t epoch,
                                      int64_t firstSample);

// Collective. Host-sharded positions in an epoch count the samples of one host's ranks, so every
// host needs as many ranks; CollectiveFailure (exit status 2) otherwise.
void checkHostsAlike(comm::Communicator& control);

// The micro-batches each of `sharers` ranks takes from the first `samples` minus `firstSample`
// samples. With host-sharded data, hosts hold different numbers of samples: every rank takes the
// fewest any rank can (collective over `control`), so none waits in a collective for one that
// ran out.
int64_t agreedMicroBatches(const TrainConfig& config, comm::Communicator& control, int sharers,
                           int64_t samples, int64_t firstSample);

// The steps of a whole epoch and of the rest of the one `start` lies in, agreed as
// agreedMicroBatches agrees; none for a stream. Collective.
std::optional<EpochSteps> agreedEpochSteps(const TrainConfig& config, comm::Communicator& control,
                                           int sharers, const TrainingData& data,
                                           const TrainingPosition& start);

// Epoch `epochOfRun` (counted from this run's first) of the stream "pipe:`prefix`".
StreamPlan streamPlan(const TrainConfig& config, const models::ModelSpec& spec,
                      const std::string& prefix, int64_t epochOfRun, bool pinned);

// Collective, after the step at which the ranks agreed to stop: which signal stopped the run
// (returned) and the first rank that received it, logged with where the run stands.
std::string agreeOnStop(comm::Communicator& control, int64_t step, int64_t totalSteps, RunLog& log);

// Threads and memory for assembling batches ahead of the loop.
data::PrefetchOptions prefetchOptions(const TrainConfig& config, c10::Device device,
                                      bool readsFromDisk);

// How the data was split into steps: may differ between a checkpoint and the run resuming it.
nlohmann::json layoutOf(const TrainConfig& config, int worldSize);

// What a checkpoint must share with this run to be resumed from: the model, the data and the
// order in which it is read. Step counts (--epochs, --max-steps), the number of ranks and the
// batch may change: the epoch goes on from its global sample position. `requestedDropLast`: what
// --drop-last said, so that pipeline and data-parallel runs resume each other's checkpoints
// although pipeline mode always drops incomplete batches.
// Rank 0 makes the place's output directory (and links a new one as runs/latest); every rank
// gets the log, which says the place's notes and warnings on rank 0.
std::unique_ptr<RunLog> openRunLog(const RunPlace& place, bool rankZero, const TrainConfig& config);

// Where a run starts: its place, and the checkpoint position it resumes from (resumedFrom empty:
// none).
struct RunStart {
  const RunPlace& place;
  const TrainingPosition& position;
  const std::string& resumedFrom;
};

// Every rank, once the run is planned: refuses a checkpoint past the run's end (or a finished run
// under --resume auto), opens metrics.jsonl on rank 0 (each failure ends all ranks together),
// then links a new directory as runs/latest (or says why it cannot), records the resume, and
// points every rank's flight record (health/FlightRecord.h) at the run's directory, and starts
// --trace (RunTrace.h).
void acceptStart(const TrainConfig& config, comm::Communicator& control,
                 const Checkpointer& checkpointer, const RunPlan& plan, const RunStart& start,
                 RunLog& log);

nlohmann::json runIdentity(const TrainConfig& config, bool requestedDropLast,
                           const models::ModelSpec& spec, models::Classifier& model,
                           const TrainingData& data);

}  // namespace ringtrain::train
