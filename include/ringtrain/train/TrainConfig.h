// Everything `ringtrain train` needs: filled from its flags by parseTrainOptions, or by hand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringtrain/Export.h"
#include "ringtrain/data/Dataset.h"
#include "ringtrain/ddp/ReducerOptions.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/pipeline/PipelineOptions.h"

namespace ringtrain::train {

enum class ProgressMode { kAuto, kOn, kOff };
// --lr-schedule: after the warmup, constant, cosine decay to zero, or linear decay to zero.
enum class LrShape { kConstant, kCosine, kLinear };
// --on-nonfinite: end the run (exit status 3) or drop the step's update and go on.
enum class NonFinitePolicy { kStop, kSkip };
// --precision: the forward pass under autocast in bf16 or fp16; weights and optimizer stay fp32.
enum class Precision { kFp32, kBf16, kFp16 };

// fp16's dynamic loss scaling, as PyTorch's GradScaler does it.
struct LossScaling {
  double initialScale = 65536.0;
  int64_t growthInterval = 2000;  // steps without overflow before the scale doubles
  double smallestScale = 1.0;     // overflowing at this scale means the run diverged
};
enum class Normalization { kAuto, kNone, kStandard };
// kGlobal: every rank sees the same data set and the ranks of the job deal its samples between
// them. kHost: each host has its own files (SageMaker's ShardedByS3Key); the ranks of a host deal
// that host's samples, and every epoch lasts as many steps as the host with the fewest allows.
enum class DataSharding { kGlobal, kHost };

// --pipeline-stages and what goes with it. With stages > 1 the world is stages x D ranks (see
// src/pipeline/Grid.h) and every batch of --batch-size samples is cut into `microBatches`.
struct PipelineConfig {
  int stages = 1;
  int microBatches = 0;  // 0: the largest divisor of --batch-size up to 4 x stages
  pipeline::ScheduleKind schedule = pipeline::ScheduleKind::k1f1b;
  pipeline::PartitionSpec partition;
  bool checkMessages = false;  // a header before every activation and gradient, checked
};

struct TrainConfig {
  // data
  std::string trainSpec = "synthetic:20000";
  std::string valSpec;  // empty: split --val-fraction off the training data
  double valFraction = 0.1;
  // Validation: batches of evalBatchSize samples per rank (0: batchSize); after every valEvery
  // optimizer steps and after the last (0: after each epoch); at most valMaxBatches batches per
  // rank (0: the whole validation set).
  int64_t evalBatchSize = 0;
  int64_t valEvery = 0;
  int64_t valMaxBatches = 0;
  data::CsvOptions csv;
  int64_t numClasses = 0;  // 0: infer from the training labels
  Normalization normalization = Normalization::kAuto;
  DataSharding sharding = DataSharding::kGlobal;
  int64_t context = 64;  // token streams: tokens per sample window
  // Threads assembling batches ahead; -1: auto (2 on GPUs; on CPU 1 for data read from disk, 0
  // for data in memory).
  int dataWorkers = -1;

  // model
  models::ModelSpec model;
  std::string initFrom;

  // schedule
  int64_t epochs = 5;      // 0 (with maxSteps 0): no steps; the initial model is written
  int64_t maxSteps = 0;    // > 0: stop after this many optimizer steps, across epochs if needed
  int64_t batchSize = 64;  // per rank (per pipeline with --pipeline-stages), per micro-step
  int64_t gradAccum = 1;
  uint64_t seed = 42;
  bool shuffle = true;
  bool dropLast = false;

  // optimisation
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = false;
  double weightDecay = 0.0;
  LrShape lrShape = LrShape::kConstant;
  int64_t warmupSteps = 0;
  bool scaleLr = false;
  double clipGradNorm = 0.0;  // 0: off
  NonFinitePolicy onNonFinite = NonFinitePolicy::kStop;
  Precision precision = Precision::kFp32;
  LossScaling lossScaling;  // fp16 only

  // gradient communication
  ddp::ReducerOptions reducer;
  // --zero: 0 every rank holds the whole optimizer state and gradients; 1 the optimizer state is
  // sharded over the data-parallel ranks; 2 the gradients too (docs/sharding.md).
  int zeroStage = 0;
  PipelineConfig pipeline;

  // checkpoints
  std::string checkpointDir;    // empty: <outputDir>/checkpoints
  int64_t checkpointEvery = 0;  // optimizer steps between checkpoints; 0: none
  int checkpointKeep = 3;       // newest checkpoints kept
  std::string resume = "auto";  // auto (newest good checkpoint, if any) | none | a checkpoint

  // runtime and output
  std::string device = "auto";   // auto | cpu | cuda
  std::string backend = "auto";  // auto | mpi | nccl
  int threads = 0;               // 0: cores / ranks on this host
  // --comm-timeout, which the command's watchdog enforces; here to be recorded with the run.
  double commTimeoutSeconds = 300;
  // --heartbeat-timeout, which the command's heartbeats enforce; recorded likewise.
  double heartbeatTimeoutSeconds = 10;
  // Empty: a new directory under runs/ per run, linked as runs/latest (src/train/RunDirectory.h).
  std::string outputDir;
  int64_t logEvery = 50;
  ProgressMode progress = ProgressMode::kAuto;
  // --trace: where rank 0 writes a timeline of steps traceFirstStep to traceLastStep of every
  // rank (a relative path lies in the run's directory); empty: none. --trace-steps A:B; 0: the
  // second to fifth step of the run.
  std::string tracePath;
  int64_t traceFirstStep = 0;
  int64_t traceLastStep = 0;
  // --tensorboard: where rank 0 writes TensorBoard event files of metrics.jsonl's figures (a
  // relative path lies in the run's directory); empty: none.
  std::string tensorboardDir;
};

// `ringtrain train`'s flags read into a TrainConfig, for programs that take the same flags
// (examples/custom_trainer.cpp).
struct TrainOptions {
  TrainConfig config;
  bool help = false;  // --help: print helpText and stop
  std::string helpText;
};

// argv[0] is the program's (or subcommand's) name. UserError naming the flag on any bad value or
// unknown flag.
RINGTRAIN_API TrainOptions parseTrainOptions(int argc, char** argv);

}  // namespace ringtrain::train
