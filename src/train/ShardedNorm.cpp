#include "train/ShardedNorm.h"

#include <ATen/ATen.h>

#include <cmath>

namespace ringtrain::train {

std::vector<at::Tensor> pieceGradients(const std::vector<ddp::BucketShard>& shard,
                                       const ddp::NamedParameters& parameters) {
  std::vector<at::Tensor> gradients;
  for (const ddp::BucketShard& bucket : shard) {
    for (const ddp::ShardPiece& piece : bucket.pieces) {
      const at::Tensor& gradient = parameters[piece.parameter].second.grad();
      gradients.push_back(gradient.view(-1).narrow(0, piece.parameterOffset, piece.numel));
    }
  }
  return gradients;
}

double normOfShards(const std::vector<double>& sumsOfSquares) {
  double total = 0;
  for (const double squares : sumsOfSquares) total += squares;
  return std::sqrt(total);
}

void clipToNorm(const std::vector<at::Tensor>& gradients, double norm, double maxNorm) {
  if (maxNorm <= 0 || !std::isfinite(norm) || gradients.empty()) return;
  const double factor = maxNorm / (norm + 1e-6);
  if (factor < 1) at::_foreach_mul_(gradients, factor);
}

}  // namespace ringtrain::train
