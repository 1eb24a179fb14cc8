#include "SettingNames.h"

namespace ringtrain::train {

const NameTable<Normalization>& normalizationNames() {
  static const NameTable<Normalization> names{{"auto", Normalization::kAuto},
                                              {"none", Normalization::kNone},
                                              {"standard", Normalization::kStandard}};
  return names;
}

const NameTable<DataSharding>& dataShardingNames() {
  static const NameTable<DataSharding> names{{"global", DataSharding::kGlobal},
                                             {"host", DataSharding::kHost}};
  return names;
}

const NameTable<LrShape>& lrShapeNames() {
  static const NameTable<LrShape> names{
      {"constant", LrShape::kConstant}, {"cosine", LrShape::kCosine}, {"linear", LrShape::kLinear}};
  return names;
}

const NameTable<ddp::OverlapMode>& overlapModeNames() {
  static const NameTable<ddp::OverlapMode> names{{"auto", ddp::OverlapMode::kAuto},
                                                 {"on", ddp::OverlapMode::kOn},
                                                 {"off", ddp::OverlapMode::kOff}};
  return names;
}

const NameTable<NonFinitePolicy>& nonFinitePolicyNames() {
  static const NameTable<NonFinitePolicy> names{{"stop", NonFinitePolicy::kStop},
                                                {"skip", NonFinitePolicy::kSkip}};
  return names;
}

const NameTable<ProgressMode>& progressModeNames() {
  static const NameTable<ProgressMode> names{
      {"auto", ProgressMode::kAuto}, {"on", ProgressMode::kOn}, {"off", ProgressMode::kOff}};
  return names;
}

}  // namespace ringtrain::train
