// Everything `ringtrain train` needs, filled from the command line (src/cli) or by tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/ddp/Reducer.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/pipeline/Partition.h"
#include "ringtrain/pipeline/Schedule.h"
#include "ringtrain/train/LrSchedule.h"
#include "ringtrain/train/MixedPrecision.h"
#include "ringtrain/train/NonFinite.h"

namespace ringtrain::train {

enum class ProgressMode { kAuto, kOn, kOff };
enum class Normalization { kAuto, kNone, kStandard };
// kGlobal: every rank sees the same data set and the ranks of the job deal its samples between
// them. kHost: each host has its own files (SageMaker's ShardedByS3Key); the ranks of a host deal
// that host's samples, and every epoch lasts as many steps as the host with the fewest allows.
enum class DataSharding { kGlobal, kHost };

// --pipeline-stages and what goes with it. With stages > 1 the world is stages x D ranks (see
// pipeline/Grid.h) and every batch of --batch-size samples is cut into `microBatches`.
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
  int64_t epochs = 5;
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
  // Empty: a new directory under runs/ per run, linked as runs/latest (RunDirectory.h).
  std::string outputDir;
  int64_t logEvery = 50;
  ProgressMode progress = ProgressMode::kAuto;
};

}  // namespace ringtrain::train
