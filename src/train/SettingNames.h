// The names of the training settings that are enums: what the flags accept and what the banner
// and summary.json print (util/NameTable.h).
#pragma once

#include "ringtrain/ddp/ReducerOptions.h"
#include "ringtrain/train/TrainConfig.h"
#include "util/NameTable.h"

namespace ringtrain::train {

const NameTable<Normalization>& normalizationNames();      // auto, none, standard
const NameTable<DataSharding>& dataShardingNames();        // global, host
const NameTable<LrShape>& lrShapeNames();                  // constant, cosine, linear
const NameTable<ddp::OverlapMode>& overlapModeNames();     // auto, on, off
const NameTable<NonFinitePolicy>& nonFinitePolicyNames();  // stop, skip
const NameTable<ProgressMode>& progressModeNames();        // auto, on, off

}  // namespace ringtrain::train
