#include "pipeline/Grid.h"

#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {

PipelineGrid PipelineGrid::forWorld(int worldSize, int stages) {
  RINGTRAIN_USER_CHECK(stages >= 1, "--pipeline-stages must be positive, got " << stages);
  RINGTRAIN_USER_CHECK(worldSize % stages == 0,
                       "--pipeline-stages " << stages << " does not divide the " << worldSize
                                            << " ranks: start a multiple of " << stages
                                            << " ranks (pipeline stages x data-parallel replicas)");
  return {stages, worldSize / stages};
}

}  // namespace ringtrain::pipeline
