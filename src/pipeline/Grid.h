// The pipeline x data-parallel grid: a world of P x D ranks holds P stages, each replicated D
// times. Stage-major, as DeepSpeed and Megatron lay it out: rank = stage * D + replica, so a
// stage's D replicas (which allreduce every gradient) are neighbours, usually on one host, while
// the lighter activation traffic crosses between stages.
#pragma once

namespace ringtrain::pipeline {

struct PipelineGrid {
  int stages = 1;
  int replicas = 1;

  // UserError unless `stages` divides `worldSize`.
  static PipelineGrid forWorld(int worldSize, int stages);

  int stageOf(int rank) const { return rank / replicas; }
  int replicaOf(int rank) const { return rank % replicas; }
  int rankOf(int stage, int replica) const { return stage * replicas + replica; }
};

}  // namespace ringtrain::pipeline
