#include "RunSettings.h"
#include "SettingNames.h"

#include <sstream>

#include "comm/AllReduce.h"
#include "ddp/Reducer.h"
#include "pipeline/Partition.h"
#include "pipeline/Schedule.h"
#include "train/MixedPrecision.h"

namespace ringtrain::train {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json labelColumnOf(const data::CsvOptions& csv) {
  return csv.labelColumn == data::kNoLabelColumn ? ordered_json("none")
                                                 : ordered_json(csv.labelColumn);
}

ordered_json partitionOf(const pipeline::PartitionSpec& partition) {
  switch (partition.method) {
    case pipeline::PartitionSpec::Method::kParameters:
      return "params";
    case pipeline::PartitionSpec::Method::kUniform:
      return "uniform";
    case pipeline::PartitionSpec::Method::kExplicit:
      break;
  }
  std::string text = "explicit:";
  for (size_t i = 0; i < partition.layerCounts.size(); ++i) {
    text += (i ? "," : "") + std::to_string(partition.layerCounts[i]);
  }
  return text;
}

ordered_json modelOf(const models::ModelSpec& spec) {
  const bool fromFile = spec.kind == models::ModelKind::kSpec;
  return {{"model", models::modelKindName(spec.kind)},
          {"model_spec", fromFile ? ordered_json(spec.networkSource) : ordered_json()},
          // An autoencoder's widths: the encoder's, the code (--code-size), the decoder's.
          {"hidden", fromFile ? ordered_json() : ordered_json(spec.hidden)},
          {"layers", spec.gpt.layers},
          {"width", spec.gpt.width},
          {"heads", spec.gpt.heads}};
}

}  // namespace

ordered_json settingsOf(const TrainConfig& c) {
  ordered_json settings{
      {"train", c.trainSpec},
      {"val", c.valSpec.empty() ? ordered_json() : ordered_json(c.valSpec)},
      {"val_fraction", c.valFraction},
      {"eval_batch_size",
       c.evalBatchSize == 0 ? ordered_json(c.batchSize) : ordered_json(c.evalBatchSize)},
      {"val_every", c.valEvery},
      {"val_max_batches", c.valMaxBatches},
      {"csv_header", c.csv.header},
      {"label_column", labelColumnOf(c.csv)},
      {"num_classes", c.numClasses == 0 ? ordered_json("auto") : ordered_json(c.numClasses)},
      {"normalize", nameOf(normalizationNames(), c.normalization)},
      {"data_sharding", nameOf(dataShardingNames(), c.sharding)},
      {"context", c.context},
      {"data_workers", c.dataWorkers < 0 ? ordered_json("auto") : ordered_json(c.dataWorkers)}};
  settings.update(modelOf(c.model));
  settings.update(ordered_json{
      {"init_from", c.initFrom.empty() ? ordered_json() : ordered_json(c.initFrom)},
      {"epochs", c.epochs},
      // null when the run's length is --epochs; 0 for a run of no steps (--max-steps 0 or
      // --epochs 0).
      {"max_steps", c.maxSteps > 0 || c.epochs == 0 ? ordered_json(c.maxSteps) : ordered_json()},
      {"batch_size", c.batchSize},
      {"grad_accum", c.gradAccum},
      {"seed", c.seed},
      {"shuffle", c.shuffle},
      {"drop_last", c.dropLast},
      {"optimizer", c.optimizer},
      {"lr", c.lr},
      {"momentum", c.momentum},
      {"nesterov", c.nesterov},
      {"weight_decay", c.weightDecay},
      {"lr_schedule", nameOf(lrShapeNames(), c.lrShape)},
      {"warmup_steps", c.warmupSteps},
      {"scale_lr", c.scaleLr},
      {"clip_grad_norm", c.clipGradNorm},
      {"on_nonfinite", nameOf(nonFinitePolicyNames(), c.onNonFinite)},
      {"precision", precisionName(c.precision)},
      {"loss_scale", c.lossScaling.initialScale},
      {"bucket_mb", static_cast<double>(c.reducer.limits.bucketBytes) / (1024.0 * 1024.0)},
      {"overlap", nameOf(overlapModeNames(), c.reducer.overlapMode)},
      {"find_unused_parameters", c.reducer.findUnusedParameters},
      {"grad_compression", ddp::compressionName(c.reducer.compression)},
      {"allreduce", comm::algorithmName(c.reducer.algorithm)},
      {"zero", c.zeroStage},
      {"pipeline_stages", c.pipeline.stages},
      {"micro_batches",
       c.pipeline.microBatches == 0 ? ordered_json("auto") : ordered_json(c.pipeline.microBatches)},
      {"schedule", pipeline::scheduleName(c.pipeline.schedule)},
      {"partition", partitionOf(c.pipeline.partition)},
      {"pipeline_check_messages", c.pipeline.checkMessages},
      {"checkpoint_dir", c.checkpointDir},
      {"checkpoint_every", c.checkpointEvery},
      {"checkpoint_keep", c.checkpointKeep},
      {"resume", c.resume},
      {"device", c.device},
      {"backend", c.backend},
      {"threads", c.threads == 0 ? ordered_json("auto") : ordered_json(c.threads)},
      {"comm_timeout", c.commTimeoutSeconds},
      {"heartbeat_timeout", c.heartbeatTimeoutSeconds},
      {"output_dir", c.outputDir},
      {"log_every", c.logEvery},
      {"progress", nameOf(progressModeNames(), c.progress)},
      {"trace", c.tracePath.empty() ? ordered_json() : ordered_json(c.tracePath)},
      {"tensorboard", c.tensorboardDir.empty() ? ordered_json() : ordered_json(c.tensorboardDir)},
      {"trace_steps",
       c.traceFirstStep > 0 ? ordered_json{c.traceFirstStep, c.traceLastStep} : ordered_json()}});
  return settings;
}

nlohmann::json resumeSettingsOf(const TrainConfig& c) {
  nlohmann::json settings{{"lr", c.lr},
                          {"lr_schedule", nameOf(lrShapeNames(), c.lrShape)},
                          {"warmup_steps", c.warmupSteps},
                          {"scale_lr", c.scaleLr},
                          {"weight_decay", c.weightDecay},
                          {"clip_grad_norm", c.clipGradNorm},
                          {"precision", precisionName(c.precision)},
                          {"normalize", nameOf(normalizationNames(), c.normalization)},
                          {"label_column", labelColumnOf(c.csv)},
                          {"csv_header", c.csv.header}};
  if (c.optimizer == "sgd") {
    settings["momentum"] = c.momentum;
    settings["nesterov"] = c.nesterov;
  }
  // Which rows are held out for validation decides which are trained on.
  if (c.valSpec.empty()) settings["val_fraction"] = c.valFraction;
  if (c.model.kind == models::ModelKind::kGpt) settings["context"] = c.context;
  // Each validation sets buffers (BatchNorm's statistics) to their mean over the replicas.
  if (c.valEvery > 0) settings["val_every"] = c.valEvery;
  return settings;
}

nlohmann::json lengthOf(const TrainConfig& c) {
  return {{"epochs", c.epochs},
          {"max_steps", c.maxSteps},
          {"batch_size", c.batchSize},
          {"grad_accum", c.gradAccum}};
}

DataSplit dataSplitOf(const TrainConfig& config) {
  // Hosts with their own files each split theirs, rows no reader of the whole data set finds.
  const bool heldOutOfTheWhole = config.valSpec.empty() && config.sharding == DataSharding::kGlobal;
  return {config.seed,
          heldOutOfTheWhole ? std::optional<double>(config.valFraction) : std::nullopt};
}

std::string describeDifferences(const nlohmann::json& theirs, const nlohmann::json& mine) {
  std::ostringstream lines;
  for (const auto& [key, value] : mine.items()) {
    const nlohmann::json other = theirs.contains(key) ? theirs.at(key) : nlohmann::json();
    if (other != value) lines << "\n  " << key << ": " << other << " there, " << value << " here";
  }
  return lines.str();
}

}  // namespace ringtrain::train
