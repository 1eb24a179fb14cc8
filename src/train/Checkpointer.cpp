#include "train/Checkpointer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <sstream>

#include "DataIdentity.h"
#include "RunDirectory.h"
#include "RunSettings.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "train/TrainingCheckpoint.h"
#include "util/Files.h"
#include "util/JsonFields.h"

namespace ringtrain::train {
namespace {

using nlohmann::json;

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
    restored.finished = position.value("finished", false);
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

Checkpointer::Checkpointer(const TrainConfig& config, comm::Communicator& control, json identity,
                           json settings)
    : config_(config),
      control_(control),
      identity_(std::move(identity)),
      settings_(std::move(settings)) {}

std::string Checkpointer::differencesFrom(const checkpoint::Checkpoint& checkpoint,
                                          bool withSettings) const {
  const json& saved = checkpoint.state;
  RINGTRAIN_USER_CHECK(saved.contains("identity") && saved.contains("position"),
                       "checkpoint " << checkpoint.path << " was not written by ringtrain train");
  json theirs = saved.at("identity");
  if (theirs.contains("train") && identity_.contains("train") &&
      sameData(theirs.at("train"), identity_.at("train"))) {
    theirs["train"] = identity_.at("train");
  }
  std::string differences = describeDifferences(theirs, identity_);
  // Checkpoints of earlier versions did not record the learning settings.
  if (withSettings && saved.contains("settings")) {
    differences += describeDifferences(saved.at("settings"), settings_);
  }
  return differences;
}

std::optional<checkpoint::Checkpoint> Checkpointer::continuableLatest(RunPlace& place) const {
  // The link moves to this run's directory if it starts anew: what is said must not name it.
  const std::string latest = latestRunDirectory(kRunsDirectory);
  if (latest.empty()) return std::nullopt;
  if (const std::optional<std::string> user = runInProgress(latest)) {
    // A process on another host cannot be looked for from here: the note says how to go on.
    place.notes.push_back(latest + " is in use by " + *user +
                          "; this run starts anew (if that process has ended, --output-dir " +
                          latest + " continues it)");
    return std::nullopt;
  }
  try {
    std::vector<std::string> skipped;
    std::optional<checkpoint::Checkpoint> newest =
        checkpoint::latestCheckpoint(latest + "/checkpoints", &skipped);
    // A finished run stays as it is, as does one of a version that did not say: this one is new.
    const json& position = newest ? newest->state.at("position") : json();
    if (!newest || !position.contains("finished") || position.at("finished").get<bool>()) {
      return std::nullopt;
    }
    for (const std::string& reason : skipped) {
      place.warnings.push_back("skipping checkpoint: " + reason);
    }
    // Without a directory named, continuing must be what the same command would do.
    const std::string differences =
        differencesFrom(*newest, /*withSettings=*/true) +
        describeDifferences(newest->state.value("length", json()), lengthOf(config_));
    if (!differences.empty()) {
      place.notes.push_back(std::string(kLatestRun) + " (" + latest +
                            ") holds a run interrupted at step " + std::to_string(newest->step) +
                            " with other settings:" + differences +
                            "\nthis run starts anew (--output-dir " + latest + " --resume " +
                            newest->path + " continues that one with these settings)");
      return std::nullopt;
    }
    place.outputDir = latest;
    place.notes.push_back("continuing the run interrupted at step " + std::to_string(newest->step) +
                          " in " + place.outputDir + " (--resume none starts anew)");
    return newest;
  } catch (const std::exception& error) {
    place.warnings.push_back(latest + " is not continued: " + error.what());
    return std::nullopt;
  }
}

RunPlace Checkpointer::locate() {
  RunPlace place;
  if (control_.rank() != 0) return place;
  const bool outputGiven = !config_.outputDir.empty();
  const bool checkpointsGiven = !config_.checkpointDir.empty();
  // Paths through runs/latest would change meaning once the link moves to this run.
  const auto checkpointsOf = [&](const std::string& output) {
    return checkpointsGiven ? stablePath(config_.checkpointDir) : output + "/checkpoints";
  };
  if (outputGiven) place.outputDir = stablePath(config_.outputDir);
  if (config_.resume == "auto" && (outputGiven || checkpointsGiven)) {
    std::vector<std::string> skipped;
    found_ = checkpoint::latestCheckpoint(checkpointsOf(place.outputDir), &skipped);
    for (const std::string& reason : skipped) {
      place.warnings.push_back("skipping checkpoint: " + reason);
    }
    if (found_) {
      const std::string differences = differencesFrom(*found_, /*withSettings=*/true);
      RINGTRAIN_USER_CHECK(differences.empty(),
                           "checkpoint "
                               << found_->path << " belongs to a different run:" << differences
                               << "\n--resume " << found_->path
                               << " continues it with this command's settings, "
                                  "--resume none starts over, or pick another "
                               << (checkpointsGiven ? "--checkpoint-dir" : "--output-dir"));
    } else if (outputGiven) {
      const std::string model = place.outputDir + "/model.safetensors";
      RINGTRAIN_USER_CHECK(!pathExists(model),
                           place.outputDir
                               << " holds the model of an earlier run (" << model
                               << ") and no checkpoint to continue it from: pick another "
                                  "--output-dir, or pass --resume none to replace it");
    }
  } else if (config_.resume == "auto") {
    found_ = continuableLatest(place);
  } else if (config_.resume != "none") {
    // Asked for by path: must be good.
    found_ = checkpoint::readCheckpoint(stablePath(config_.resume));
    const std::string differences = differencesFrom(*found_, /*withSettings=*/false);
    RINGTRAIN_USER_CHECK(differences.empty(), "checkpoint "
                                                  << found_->path
                                                  << " belongs to a different run:" << differences);
    if (found_->state.contains("settings")) {
      const std::string changed = describeDifferences(found_->state.at("settings"), settings_);
      if (!changed.empty()) place.notes.push_back("continuing with changed settings:" + changed);
    }
  }
  foundAutomatically_ = found_ && config_.resume == "auto";
  if (found_) place.continuesAfterStep = found_->step;
  if (place.outputDir.empty()) {
    place.outputDir = makeFreshRunDirectory(kRunsDirectory, std::time(nullptr));
    place.fresh = true;
  }
  place.checkpointDir = checkpointsOf(place.outputDir);
  directory_ = place.checkpointDir;
  if (config_.resume == "none") {
    // An earlier run's checkpoints would outrank this run's (the newest step wins) and be
    // continued later: they are kept, aside.
    if (const std::optional<std::string> aside = setAsideCheckpoints(directory_)) {
      place.notes.push_back("--resume none: the checkpoints in " + directory_ + " moved to " +
                            *aside);
    }
  }
  return place;
}

void Checkpointer::checkPosition(int64_t step, bool atTheEnd, bool pastTheEnd,
                                 const std::string& outputDir) const {
  if (resumedFrom_.empty()) return;
  RINGTRAIN_USER_CHECK(!pastTheEnd, "checkpoint "
                                        << resumedFrom_ << " is at step " << step
                                        << ", past the end of this run (--epochs " << config_.epochs
                                        << ", --max-steps " << config_.maxSteps
                                        << "): raise --epochs or --max-steps to train on from it, "
                                           "or pass --resume none to start over");
  if (control_.rank() != 0 || !foundAutomatically_ || !atTheEnd) return;
  const std::string model = outputDir + "/model.safetensors";
  RINGTRAIN_USER_CHECK(!pathExists(model),
                       outputDir << " holds this run, finished at step " << step
                                 << ", and its model (" << model
                                 << "), which stays as it is: raise --epochs or --max-steps to "
                                    "train on, or pick another --output-dir");
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
  resumedFrom_ = checkpoint.path;
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
  // Rank 0 compared the checkpoint with this run in locate(): another rank may see the same data
  // under another path.
  RINGTRAIN_USER_CHECK(
      checkpoint.state.contains("identity") && checkpoint.state.contains("position"),
      "checkpoint " << checkpoint.path << " was not written by ringtrain train");
  const TrainingPosition position = positionOf(checkpoint, trainSamples);
  restoreTraining(checkpoint.files, checkpoint.path, model, optimizer, optimizerDevice);
  return position;
}

bool Checkpointer::save(const TrainingPosition& position, models::Classifier& model,
                        const std::function<void(const ByteSink*)>& writeOptimizerState,
                        RunLog& log) {
  const bool first = control_.rank() == 0;
  at::Tensor writing = at::full({1}, first && parametersFinite(model) ? 1.0 : 0.0, at::kDouble);
  control_.broadcast(writing, 0);
  if (writing.item<double>() == 0) {
    if (!first) return true;
    ++failures_;
    log.warn("checkpoint at step " + std::to_string(position.step) +
             " not written: the parameters are not finite; older checkpoints kept");
    return false;
  }
  if (!first) {
    writeOptimizerState(nullptr);
    return true;
  }
  const auto start = std::chrono::steady_clock::now();
  const json state{{"identity", identity_},
                   {"settings", settings_},
                   {"length", lengthOf(config_)},
                   {"position",
                    {{"step", position.step},
                     {"epoch", position.epoch},
                     {"samples_in_epoch", position.samplesInEpoch},
                     {"layout", position.layout},
                     {"loss_scaler", position.lossScaler},
                     {"finished", position.finished}}}};
  try {
    checkpoint::CheckpointWriter writer(directory_, position.step);
    writeTraining(writer, model, [&](const ByteSink& sink) { writeOptimizerState(&sink); });
    const std::string path = writer.commit(state);
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
