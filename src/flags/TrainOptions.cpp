#include "TrainOptions.h"

#include <algorithm>
#include <cmath>
#include <cxxopts.hpp>
#include <tuple>

#include "FlagGroups.h"
#include "FlagValues.h"
#include "comm/AllReduce.h"
#include "ddp/Reducer.h"
#include "models/ModelKinds.h"
#include "pipeline/Partition.h"
#include "pipeline/Schedule.h"
#include "ringtrain/data/Dataset.h"
#include "ringtrain/util/Error.h"
#include "train/MixedPrecision.h"
#include "train/SettingNames.h"

namespace ringtrain::train {
namespace {

cxxopts::Options trainOptions() {
  cxxopts::Options options("ringtrain train",
                           "Data-parallel training: run one process per GPU (or 2+ on CPU) under "
                           "mpirun; every rank trains on its shard and gradients are averaged. "
                           "With --pipeline-stages, the model's layers are split over ranks too.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  const auto optionalText = [] { return cxxopts::value<std::string>(); };
  // --data, the data flag of every other command, names the training data here.
  options.add_options("Data")(
      "train,data",
      "training data: synthetic:N[:DIM[:CLASSES]], a .csv file or directory, csv:PATH, "
      "an MNIST IDX directory (idx:DIR), or a data set made by ringtrain prep (shards:DIR); "
      "also --data",
      text("synthetic:20000"),
      "SPEC")("val",
              "validation data (same forms; default: split --val-fraction off --train), or none to "
              "train on every sample and validate nothing",
              optionalText(), "SPEC")(
      "val-fraction", "share of --train held out when --val is absent", text("0.1"), "F")(
      "eval-batch-size", "validation batch per rank (0: --batch-size)", text("0"), "N")(
      "val-every",
      "validate after every N optimizer steps and after the last (0: after each epoch)", text("0"),
      "N")("val-max-batches",
           "validate on at most B batches per rank (0: the whole validation set)", text("0"), "B")(
      "num-classes", "number of classes (0: the largest training label + 1)", text("0"), "C")(
      "normalize",
      "feature scaling: " + choicesIn(normalizationNames()) + " (auto: standardize CSV data)",
      text("auto"),
      "MODE")("data-sharding",
              choicesIn(dataShardingNames()) +
                  " (global: every host sees the whole data set; host: each host has its own "
                  "files, its ranks share them, steps per epoch agreed over hosts)",
              text("global"),
              "HOW")("context", "token data sets: tokens per sample window", text("64"), "N")(
      "data-workers",
      "threads assembling batches ahead: auto (2 on GPUs; on CPU 1 for shard data sets, 0 "
      "for data in memory) or N",
      text("auto"), "N");
  flags::addCsvFlags(options, "Data", "0-based CSV column holding the label, or none", "0");
  options.add_options("Model")("model",
                               "mlp, cnn, gpt (a transformer decoder for token data) or "
                               "autoencoder (reconstructs the features; labels are ignored)",
                               text("mlp"), "NAME")("hidden",
                                                    "mlp and cnn: hidden layer widths; "
                                                    "autoencoder: the encoder's (the decoder "
                                                    "mirrors them)",
                                                    text("512,256"), "W1,W2,...")(
      "layers", "gpt: transformer blocks", text("4"), "N")("width", "gpt: model width", text("128"),
                                                           "W")(
      "heads", "gpt: attention heads (dividing --width)", text("4"), "H")(
      "code-size", "autoencoder: width of the code between encoder and decoder", text("16"), "N")(
      "model-spec",
      "a sequential network described in JSON, instead of --model (docs/your-own-model.md)",
      optionalText(), "FILE.json")(
      "init-from", "start from the parameters in this model.safetensors", optionalText(), "FILE");
  options.add_options("Schedule")("epochs", "passes over the training data", text("5"), "N")(
      "max-steps",
      "stop after this many optimizer steps (overrides --epochs); 0: write the initial model and "
      "stop",
      cxxopts::value<std::string>(),
      "N")("batch-size", "samples per rank per micro-step", text("64"), "B")(
      "grad-accum", "micro-steps per optimizer step (communicates on the last only)", text("1"),
      "N")("seed", "seed for initialisation, shuffling and synthetic data", text("42"), "S")(
      "no-shuffle", "read samples in order")(
      "drop-last", "drop the samples that do not divide evenly over ranks and batches");
  options.add_options("Optimizer")("optimizer", "sgd or adamw", text("sgd"), "NAME")(
      "lr", "learning rate (peak, after warmup)", text("0.05"), "LR")(
      "momentum", "SGD momentum", text("0.9"), "M")("nesterov", "Nesterov momentum for SGD")(
      "weight-decay", "weight decay (decoupled for adamw)", text("0"), "WD")(
      "lr-schedule", choicesIn(lrShapeNames()) + " (decay to zero at the last step)",
      text("constant"), "NAME")("warmup-steps", "linear warmup steps", text("0"), "N")(
      "scale-lr", "multiply --lr by the number of ranks")(
      "clip-grad-norm", "clip gradients to this global L2 norm (0: off)", text("0"), "X")(
      "on-nonfinite",
      "when a step's loss or gradients are NaN or infinite: stop (exit status 3, the weights "
      "untouched) or skip (drop that update and go on)",
      text("stop"), "WHAT")("precision",
                            "fp32, or bf16 / fp16: the forward pass under autocast, weights and "
                            "optimizer in float32 (fp16 with dynamic loss scaling)",
                            text("fp32"), "P")(
      "loss-scale",
      "fp16: the loss scale to start from (halved on overflow, doubled after 2000 "
      "clean steps)",
      text("65536"), "S");
  options.add_options("Gradient communication")(
      "bucket-mb", "gradient bucket size in MiB (the first bucket is at most 1 MiB)", text("25"),
      "MB")("overlap",
            "reduce gradients during backward: " + choicesIn(overlapModeNames()) +
                " (auto: on for GPUs, and on CPU when each rank has a spare core for its "
                "communication thread)",
            text("auto"), "MODE")("no-overlap", "same as --overlap off")(
      "find-unused-parameters",
      "reduce parameters that got no gradient in a step as zeros instead of failing")(
      "grad-compression", "send gradients as " + choicesIn(ddp::gradCompressionNames()),
      text("none"),
      "TYPE")("allreduce",
              "how buckets are summed: " + choicesIn(comm::allReduceAlgorithmNames()) +
                  " (native: the backend's own; ring: ringtrain's; auto: ring for "
                  "buckets of 16 MiB and more on CPU, native otherwise)",
              text("auto"), "ALGO")(
      "zero",
      "shard over the data-parallel ranks: 0 nothing (every rank holds everything), 1 the "
      "optimizer state, 2 the optimizer state and the gradients (docs/sharding.md)",
      text("0"), "STAGE");
  options.add_options("Pipeline")(
      "pipeline-stages",
      "split the model's layers over P ranks; the world is P x D (D data-parallel replicas of "
      "the pipeline, rank = stage x D + replica)",
      text("1"), "P")("micro-batches",
                      "pipeline micro-batches per batch, dividing --batch-size (auto: the "
                      "largest divisor of the batch up to 4 x P)",
                      text("auto"), "M")(
      "schedule", "pipeline schedule: 1f1b (at most P micro-batches held per stage) or gpipe",
      text("1f1b"), "NAME")("partition",
                            "layers per stage: params (balance parameter counts), uniform, or "
                            "explicit:N1,N2,... (one count per stage)",
                            text("params"), "HOW")(
      "pipeline-check-messages",
      "send a header with every activation and gradient and stop on any mismatch (debugging)");
  options.add_options("Checkpoints")(
      "checkpoint-dir", "where checkpoints go (absent: <output-dir>/checkpoints)", optionalText(),
      "DIR")("checkpoint-every",
             "write a checkpoint every N optimizer steps (0: only the final one)", text("0"),
             "N")("checkpoint-keep", "keep the newest K checkpoints", text("3"), "K")(
      "resume",
      "auto (continue the run whose checkpoint is in --checkpoint-dir if its settings are the "
      "same; without --output-dir, an interrupted runs/latest), none, or the path of a "
      "checkpoint to continue with this command's settings",
      text("auto"), "WHAT");
  flags::addRankFlags(options, "Devices and communication", flags::Devices::kAny);
  options.add_options("Runtime and output")(
      "output-dir",
      "where model.safetensors, metrics.jsonl and summary.json go (absent: a new "
      "runs/DATE-TIME per run, linked as runs/latest)",
      optionalText(), "DIR")("log-every", "log a line every N optimizer steps", text("50"), "N")(
      "trace",
      "write a timeline of --trace-steps of every rank to FILE (relative: in the run's "
      "directory), to open in Perfetto or chrome://tracing",
      optionalText(), "FILE")("trace-steps",
                              "the steps --trace covers, A:B or one step N (absent: the second to "
                              "fifth step of the run)",
                              optionalText(), "A:B")(
      "tensorboard",
      "write TensorBoard event files of the figures of metrics.jsonl to DIR on rank 0 "
      "(relative: in the run's directory)",
      optionalText(), "DIR")("h,help", "show this help");
  flags::addProgressFlag(options, "Runtime and output");
  return options;
}

}  // namespace

TrainOptions parseTrainOptions(int argc, char** argv) {
  cxxopts::Options options = trainOptions();
  const cxxopts::ParseResult result = flags::parseFlags(options, argc, argv);
  TrainOptions parsed;
  if (result.count("help")) {
    parsed.help = true;
    parsed.helpText = options.help({"Data", "Model", "Schedule", "Optimizer",
                                    "Gradient communication", "Devices and communication",
                                    "Pipeline", "Checkpoints", "Runtime and output"});
    return parsed;
  }

  const auto str = [&](const char* flag) { return result[flag].as<std::string>(); };
  const auto integer = [&](const char* flag) { return flags::parseInteger(flag, str(flag)); };
  const auto real = [&](const char* flag) { return flags::parseReal(flag, str(flag)); };
  const auto has = [&](const char* flag) { return result.count(flag) > 0; };

  train::TrainConfig& c = parsed.config;
  c.trainSpec = str("train");
  if (has("val")) c.valSpec = str("val");
  c.valFraction = real("val-fraction");
  c.evalBatchSize = integer("eval-batch-size");
  c.valEvery = integer("val-every");
  c.valMaxBatches = integer("val-max-batches");
  c.csv = flags::readCsvFlags(result, true);
  c.numClasses = integer("num-classes");
  c.normalization = valueNamed(normalizationNames(), "normalize", str("normalize"));
  c.sharding = valueNamed(dataShardingNames(), "data-sharding", str("data-sharding"));
  c.context = integer("context");
  RINGTRAIN_USER_CHECK(c.context > 0 && c.context <= (1 << 24),
                       "--context must be between 1 and 16777216");
  if (str("data-workers") != "auto") {
    const int64_t workers = integer("data-workers");
    RINGTRAIN_USER_CHECK(workers >= 0 && workers <= 64, "--data-workers must be auto or 0..64");
    c.dataWorkers = static_cast<int>(workers);
  }

  c.model.kind = valueNamed(models::builtInModelNames(), "model", str("model"));
  if (has("model-spec")) {
    RINGTRAIN_USER_CHECK(!has("model") && !has("hidden"),
                         "--model-spec describes the whole network: drop --model and --hidden");
    try {
      c.model = models::modelSpecFromFile(str("model-spec"));
    } catch (const UserError& error) {
      throw UserError(std::string("--model-spec: ") + error.what());
    }
  }
  c.model.gpt.layers = integer("layers");
  c.model.gpt.width = integer("width");
  c.model.gpt.heads = integer("heads");
  if (c.model.kind != models::ModelKind::kSpec)
    c.model.hidden = models::parseLayerSizes(str("hidden"));
  if (c.model.kind == models::ModelKind::kAutoencoder) {
    const int64_t code = integer("code-size");
    RINGTRAIN_USER_CHECK(code >= 1 && code <= (int64_t{1} << 20),
                         "--code-size must be between 1 and 1048576");
    // Encoder widths, the code, then the encoder's widths in reverse for the decoder.
    std::vector<int64_t> layers = c.model.hidden;
    layers.push_back(code);
    layers.insert(layers.end(), c.model.hidden.rbegin(), c.model.hidden.rend());
    c.model.hidden = layers;
  }
  if (has("init-from")) c.initFrom = str("init-from");

  c.epochs = integer("epochs");
  if (has("max-steps")) {
    c.maxSteps = integer("max-steps");
    // Nothing to train: the run writes the model as initialised (or as --init-from gave it).
    if (c.maxSteps == 0) c.epochs = 0;
  }
  c.batchSize = integer("batch-size");
  c.gradAccum = integer("grad-accum");
  c.seed = flags::parseUnsigned("seed", str("seed"));
  c.shuffle = !has("no-shuffle");
  c.dropLast = has("drop-last");

  c.optimizer = flags::parseChoice("optimizer", str("optimizer"), {"sgd", "adamw"});
  c.lr = real("lr");
  c.momentum = real("momentum");
  c.nesterov = has("nesterov");
  c.weightDecay = real("weight-decay");
  c.lrShape = valueNamed(lrShapeNames(), "lr-schedule", str("lr-schedule"));
  c.warmupSteps = integer("warmup-steps");
  c.scaleLr = has("scale-lr");
  c.clipGradNorm = real("clip-grad-norm");
  c.onNonFinite = valueNamed(nonFinitePolicyNames(), "on-nonfinite", str("on-nonfinite"));
  c.precision = train::parsePrecision("precision", str("precision"));
  c.lossScaling.initialScale = real("loss-scale");
  RINGTRAIN_USER_CHECK(c.lossScaling.initialScale >= 1 && c.lossScaling.initialScale <= 1e30,
                       "--loss-scale must be between 1 and 1e30");

  const double bucketMb = real("bucket-mb");
  RINGTRAIN_USER_CHECK(bucketMb > 0 && bucketMb <= 1024 * 1024,
                       "--bucket-mb must be positive (got " << str("bucket-mb") << ")");
  c.reducer.limits.bucketBytes = std::max<int64_t>(1, std::llround(bucketMb * 1024 * 1024));
  const auto overlap = valueNamed(overlapModeNames(), "overlap", str("overlap"));
  RINGTRAIN_USER_CHECK(!has("no-overlap") || !has("overlap") || overlap == ddp::OverlapMode::kOff,
                       "--no-overlap contradicts --overlap " << str("overlap"));
  c.reducer.overlapMode = has("no-overlap") ? ddp::OverlapMode::kOff : overlap;
  c.reducer.findUnusedParameters = has("find-unused-parameters");
  c.reducer.compression =
      valueNamed(ddp::gradCompressionNames(), "grad-compression", str("grad-compression"));
  c.reducer.algorithm = flags::parseAllReduceAlgorithm("allreduce", str("allreduce"));
  const int64_t zero = integer("zero");
  RINGTRAIN_USER_CHECK(zero >= 0 && zero <= 2,
                       "--zero must be 0, 1 or 2 (got " << str("zero") << ")");
  c.zeroStage = static_cast<int>(zero);

  const int64_t stages = integer("pipeline-stages");
  RINGTRAIN_USER_CHECK(stages >= 1 && stages <= 1024,
                       "--pipeline-stages must be between 1 and 1024");
  c.pipeline.stages = static_cast<int>(stages);
  if (str("micro-batches") != "auto") {
    const int64_t microBatches = integer("micro-batches");
    RINGTRAIN_USER_CHECK(microBatches >= 1 && microBatches <= 4096,
                         "--micro-batches must be auto or between 1 and 4096");
    c.pipeline.microBatches = static_cast<int>(microBatches);
  }
  c.pipeline.schedule = pipeline::parseScheduleKind("schedule", str("schedule"));
  c.pipeline.partition = pipeline::parsePartition("partition", str("partition"));
  c.pipeline.checkMessages = has("pipeline-check-messages");
  RINGTRAIN_USER_CHECK(stages > 1 || (!has("micro-batches") && !has("schedule") &&
                                      !has("partition") && !has("pipeline-check-messages")),
                       "--micro-batches, --schedule, --partition and --pipeline-check-messages "
                       "need --pipeline-stages 2 or more");

  const flags::RankFlags rank = flags::readRankFlags(result, flags::Devices::kAny);
  c.device = rank.device;
  c.backend = rank.backend;
  c.threads = rank.threads;
  c.commTimeoutSeconds = rank.commTimeoutSeconds;
  c.heartbeatTimeoutSeconds = rank.heartbeatTimeoutSeconds;
  c.outputDir = has("output-dir") ? str("output-dir") : "";
  c.checkpointDir = has("checkpoint-dir") ? str("checkpoint-dir") : "";
  c.checkpointEvery = integer("checkpoint-every");
  const int64_t keep = integer("checkpoint-keep");
  RINGTRAIN_USER_CHECK(keep >= 1 && keep <= 1000000, "--checkpoint-keep must be at least 1");
  c.checkpointKeep = static_cast<int>(keep);
  c.resume = str("resume");
  RINGTRAIN_USER_CHECK(!c.resume.empty(), "--resume must be auto, none or a checkpoint path");
  c.logEvery = integer("log-every");
  c.progress = flags::readProgressFlag(result);
  c.tracePath = has("trace") ? str("trace") : "";
  c.tensorboardDir = has("tensorboard") ? str("tensorboard") : "";
  RINGTRAIN_USER_CHECK(!has("tensorboard") || !c.tensorboardDir.empty(),
                       "--tensorboard needs a directory");
  RINGTRAIN_USER_CHECK(!has("trace") || !c.tracePath.empty(), "--trace needs a file name");
  RINGTRAIN_USER_CHECK(!has("trace-steps") || has("trace"), "--trace-steps needs --trace FILE");
  if (has("trace-steps")) {
    std::tie(c.traceFirstStep, c.traceLastStep) =
        flags::parseStepRange("trace-steps", str("trace-steps"));
    // Beyond this a trace is more than viewers open comfortably.
    constexpr int64_t kMostTracedSteps = 1000;
    RINGTRAIN_USER_CHECK(c.traceLastStep - c.traceFirstStep < kMostTracedSteps,
                         "--trace-steps covers at most " << kMostTracedSteps << " steps");
  }
  return parsed;
}

TrainOptions parseTrainOptions(const std::vector<std::string>& arguments) {
  std::vector<std::string> words{"train"};
  words.insert(words.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  return parseTrainOptions(static_cast<int>(argv.size()), argv.data());
}

std::vector<TrainFlag> trainFlags() {
  const cxxopts::Options options = trainOptions();
  std::vector<TrainFlag> flags;
  for (const std::string& group : options.groups()) {
    for (const cxxopts::HelpOptionDetails& option : options.group_help(group).options) {
      // Each flag by its name; a former name (an alias) is for the command line only.
      if (!option.l.empty()) flags.push_back({option.l.front(), option.is_boolean});
    }
  }
  return flags;
}

}  // namespace ringtrain::train
