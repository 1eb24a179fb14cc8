// A run's settings as data: what summary.json records so that a result can be reproduced from its
// own output, and the part of it a checkpoint must share with the run that continues it.
#pragma once

#include <nlohmann/json.hpp>

#include "ringtrain/train/TrainConfig.h"
#include "train/ModelFile.h"

namespace ringtrain::train {

// Every setting of `config`, resolved, under the names of the train command's flags (with '_'
// for '-'); enums by the names their flags take.
nlohmann::ordered_json settingsOf(const TrainConfig& config);

// What shapes the learning itself: optimizer and learning-rate settings, precision, how the data
// is read. `--resume auto` continues a checkpoint only when these are the same; a checkpoint named
// by path may continue with others (listed in the log). Not here: the run's length (a checkpoint
// past the end is refused instead), batch and world layout (a run may resume at another number of
// ranks), and what only affects speed or output.
nlohmann::json resumeSettingsOf(const TrainConfig& config);

// How long the run is and how its batches are cut: what a command without --output-dir must
// share with an interrupted run in runs/latest to continue it.
nlohmann::json lengthOf(const TrainConfig& config);

// The seed, and the share of --train held out when --val is absent (and the data is not split
// per host): what the model file records.
DataSplit dataSplitOf(const TrainConfig& config);

// "  key: A there, B here" lines for each key of `mine` that `theirs` holds differently, in
// `mine`'s order; empty when they agree.
std::string describeDifferences(const nlohmann::json& theirs, const nlohmann::json& mine);

}  // namespace ringtrain::train
