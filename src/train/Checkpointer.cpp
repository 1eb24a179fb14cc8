#include "ringtrain/train/Checkpointer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/train/TrainingCheckpoint.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/JsonFields.h"

namespace ringtrain::train {
namespace {

using nlohmann::json;

std::string defaultDirectory(const TrainConfig& config) {
  return (std::filesystem::path(config.outputDir) / "checkpoints").string();
}

// Where a checkpoint's run stood. Checkpoints from before the sample position was recorded
// counted steps of the epoch at their own world size and batch, which their identity names.
TrainingPosition positionOf(const checkpoint::Checkpoint& checkpoint, int64_t samples) {
  TrainingPosition restored;
  try {
    const json& position = checkpoint.state.at("position");
    const std::string where = "checkpoint " + checkpoint.path + ": ";
    restored.step = wholeNumber(position.at("step"), 0, INT64_MAX, where + "step");
    restored.epoch = wholeNumber(position.at("epoch"), 0, INT64_MAX, where + "epoch");
    if (position.contains("loss_scaler")) restored.lossScaler = position.at("loss_scaler");
    if (position.contains("samples_in_epoch")) {
      restored.samplesInEpoch =
          wholeNumber(position.at("samples_in_epoch"), 0, INT64_MAX, where + "samples_in_epoch");
      restored.layout = position.at("layout");
    } else {
      const json& identity = checkpoint.state.at("identity");
      restored.layout = {{"world_size", identity.at("world_size")},
                         {"batch_size", identity.at("batch_size")},
                         {"grad_accum", identity.at("grad_accum")}};
      const int64_t perStep =
          wholeNumber(identity.at("world_size"), 1, 1 << 20, where + "world_size") *
          wholeNumber(identity.at("batch_size"), 1, 1 << 30, where + "batch_size") *
          wholeNumber(identity.at("grad_accum"), 1, 1 << 20, where + "grad_accum");
      const int64_t steps =
          wholeNumber(position.at("step_in_epoch"), 0, INT64_MAX, where + "step_in_epoch");
      restored.samplesInEpoch = steps > samples / perStep ? samples : steps * perStep;
    }
  } catch (const json::exception& e) {
    throw UserError("checkpoint " + checkpoint.path + " has no usable position: " + e.what());
  }
  RINGTRAIN_USER_CHECK(restored.step >= 0 && restored.epoch >= 0 && restored.samplesInEpoch >= 0 &&
                           restored.samplesInEpoch <= samples,
                       "checkpoint " << checkpoint.path << " holds an impossible position "
                                     << checkpoint.state.at("position").dump());
  return restored;
}

bool parametersFinite(models::Classifier& model) {
  for (const at::Tensor& parameter : model.parameters()) {
    if (!at::isfinite(parameter).all().item<bool>()) return false;
  }
  return true;
}

}  // namespace

Checkpointer::Checkpointer(const TrainConfig& config, comm::Communicator& control, json identity)
    : config_(config),
      control_(control),
      identity_(std::move(identity)),
      directory_(config.checkpointDir.empty() ? defaultDirectory(config) : config.checkpointDir) {}

void Checkpointer::locate(RunLog& log) {
  if (control_.rank() != 0 || config_.resume == "none") return;
  if (config_.resume != "auto") {
    found_ = checkpoint::readCheckpoint(config_.resume);  // asked for by path: must be good
    return;
  }
  std::vector<std::string> skipped;
  found_ = checkpoint::latestCheckpoint(directory_, &skipped);
  for (const std::string& reason : skipped) log.warn("skipping checkpoint: " + reason);
}

std::optional<checkpoint::Checkpoint> Checkpointer::share() {
  // One string carries the path, step and state; then each file.
  json header;
  if (control_.rank() == 0 && found_) {
    header = {{"path", found_->path}, {"step", found_->step}, {"state", found_->state}};
    json names = json::array();
    for (const auto& [name, bytes] : found_->files) names.push_back(name);
    header["files"] = names;
  }
  header = json::parse(comm::broadcastString(control_, header.dump(), 0));
  if (header.is_null()) return std::nullopt;
  checkpoint::Checkpoint checkpoint;
  checkpoint.path = header.at("path").get<std::string>();
  checkpoint.step = header.at("step").get<int64_t>();
  checkpoint.state = header.at("state");
  size_t index = 0;
  for (const json& name : header.at("files")) {
    const std::string mine = control_.rank() == 0 ? found_->files[index].second : std::string();
    checkpoint.files.emplace_back(name.get<std::string>(),
                                  comm::broadcastString(control_, mine, 0));
    ++index;
  }
  found_.reset();
  return checkpoint;
}

TrainingPosition Checkpointer::restore(const checkpoint::Checkpoint& checkpoint,
                                       int64_t trainSamples, models::Classifier& model,
                                       torch::optim::Optimizer& optimizer,
                                       std::optional<c10::Device> optimizerDevice) const {
  const json& saved = checkpoint.state;
  RINGTRAIN_USER_CHECK(saved.contains("identity") && saved.contains("position"),
                       "checkpoint " << checkpoint.path << " was not written by ringtrain train");
  const json& theirs = saved.at("identity");
  std::ostringstream differences;
  for (const auto& [key, value] : identity_.items()) {
    const json other = theirs.contains(key) ? theirs.at(key) : json();
    if (other != value)
      differences << "\n  " << key << ": " << other << " there, " << value << " here";
  }
  RINGTRAIN_USER_CHECK(differences.str().empty(),
                       "checkpoint " << checkpoint.path
                                     << " belongs to a different run:" << differences.str()
                                     << "\nresume with the same settings, pick another "
                                        "--checkpoint-dir, or pass --resume none");
  const TrainingPosition position = positionOf(checkpoint, trainSamples);
  restoreTraining(checkpoint.files, checkpoint.path, model, optimizer, optimizerDevice);
  return position;
}

bool Checkpointer::save(const TrainingPosition& position, models::Classifier& model,
                        torch::optim::Optimizer& optimizer, RunLog& log) {
  if (control_.rank() != 0) return true;
  if (!parametersFinite(model)) {
    ++failures_;
    log.warn("checkpoint at step " + std::to_string(position.step) +
             " not written: the parameters are not finite; older checkpoints kept");
    return false;
  }
  const auto start = std::chrono::steady_clock::now();
  const json state{{"identity", identity_},
                   {"position",
                    {{"step", position.step},
                     {"epoch", position.epoch},
                     {"samples_in_epoch", position.samplesInEpoch},
                     {"layout", position.layout},
                     {"loss_scaler", position.lossScaler}}}};
  try {
    const std::string path = checkpoint::writeCheckpoint(directory_, position.step, state,
                                                         snapshotTraining(model, optimizer));
    checkpoint::pruneCheckpoints(directory_, config_.checkpointKeep);
    ++written_;
    lastWritten_ = path;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::ostringstream line;
    line << "checkpoint: " << path << " (" << seconds << " s)";
    log.info(line.str());
    return true;
  } catch (const UserError& error) {
    ++failures_;
    log.warn(std::string("checkpoint at step ") + std::to_string(position.step) +
             " not written, training goes on: " + error.what());
    return false;
  }
}

}  // namespace ringtrain::train
