#include "train/ShardedOptimizer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <limits>
#include <map>
#include <sstream>

#include "comm/ShardedCollectives.h"
#include "platform/Resources.h"
#include "ringtrain/util/Error.h"
#include "train/NonFinite.h"
#include "train/ShardedNorm.h"
#include "train/ShardedOptimizerState.h"

namespace ringtrain::train {

ddp::GradientSharding gradientShardingOf(int zeroStage) {
  return zeroStage == 1 ? ddp::GradientSharding::kScatter
                        : ddp::GradientSharding::kScatterAndRelease;
}

namespace {

constexpr const char* kNotOverThePieces =
    "a sharded optimizer must update the slices of the parameters that this rank owns: build it "
    "after the DataParallel, over its optimizerParameters()";

StateKind kindOf(const torch::optim::Optimizer& optimizer) {
  const std::optional<StateKind> kind = stateKindOf(optimizer);
  RINGTRAIN_CHECK(kind, "a sharded optimizer's state is SGD's or AdamW's");
  return *kind;
}

}  // namespace

ShardedOptimizer::ShardedOptimizer(int zeroStage, const ddp::ReducerOptions& options,
                                   const ddp::Reducer& reducer, comm::Communicator& group,
                                   comm::Communicator& groupControl)
    : zeroStage_(zeroStage),
      options_(options),
      reducer_(reducer),
      group_(group),
      groupControl_(groupControl) {
  // The state travels between the group's rank 0 and the others on the CPU communicator.
  RINGTRAIN_CHECK(groupControl_.rank() == group_.rank() && groupControl_.size() == group_.size(),
                  "the replicas' CPU and device communicators number the ranks differently");
  flattenParameters();
  for (size_t b = 0; b < reducer_.ownedShards().size(); ++b) {
    for (const ddp::ShardPiece& piece : reducer_.ownedShards()[b].pieces) {
      pieces_.push_back(flat_[b].narrow(0, piece.bucketOffset, piece.numel).detach());
    }
  }
}

void ShardedOptimizer::flattenParameters() {
  c10::NoGradGuard noGrad;
  const ddp::NamedParameters& trained = reducer_.parameters();
  for (const ddp::BucketSpec& bucket : reducer_.buckets()) {
    const at::Tensor& first = trained[bucket.entries.front().parameter].second;
    // Zeros in the alignment gaps, which the all-gathers carry along.
    at::Tensor flat = at::zeros({bucket.numel}, first.options().requires_grad(false));
    for (const ddp::BucketEntry& entry : bucket.entries) {
      at::Tensor parameter = trained[entry.parameter].second;
      at::Tensor slot = flat.narrow(0, entry.offset, entry.numel);
      slot.copy_(parameter.reshape(-1));
      parameter.set_data(slot.view(parameter.sizes()));
    }
    flat_.push_back(std::move(flat));
  }
  platform::releaseFreedMemory();  // the parameters' first storage
}

void ShardedOptimizer::dropGradients() {
  for (at::Tensor& piece : pieces_) piece.mutable_grad() = at::Tensor();
}

std::vector<at::Tensor> ShardedOptimizer::attachOwnedGradients() {
  std::vector<at::Tensor> gradients;
  for (size_t b = 0, next = 0; b < reducer_.ownedShards().size(); ++b) {
    const at::Tensor owned = reducer_.ownedGradient(b);
    for (const ddp::ShardPiece& piece : reducer_.ownedShards()[b].pieces) {
      at::Tensor gradient =
          owned.narrow(0, piece.bucketOffset - reducer_.ownedShards()[b].span.begin, piece.numel);
      pieces_[next++].mutable_grad() = gradient;
      gradients.push_back(std::move(gradient));
    }
  }
  return gradients;
}

double ShardedOptimizer::groupNorm(const std::vector<at::Tensor>& gradients) {
  const c10::Device device = flat_.front().device();
  const at::Tensor mine =
      at::full({1}, sumOfSquares(gradients), at::TensorOptions().device(device).dtype(at::kDouble));
  const at::Tensor all = group_.allGather(mine).to(at::kCPU).reshape(-1);
  return normOfShards(std::vector<double>(all.const_data_ptr<double>(),
                                          all.const_data_ptr<double>() + all.numel()));
}

void ShardedOptimizer::gatherParameters() {
  c10::NoGradGuard noGrad;
  for (at::Tensor& flat : flat_)
    comm::allGatherShards(options_.algorithm, group_, flat, options_.ring);
}

void ShardedOptimizer::takeState(const torch::optim::Optimizer& whole,
                                 torch::optim::Optimizer& optimizer) const {
  RINGTRAIN_USER_CHECK(updatesThePieces(optimizer), kNotOverThePieces);
  optimizer.state().clear();
  const StateKind kind = kindOf(whole);
  const c10::Device device = flat_.front().device();
  forEachPiece([&](const ddp::ShardPiece& piece, const at::Tensor& mine) {
    const at::Tensor& parameter = reducer_.parameters()[piece.parameter].second;
    const auto found = whole.state().find(parameter.unsafeGetTensorImpl());
    if (found == whole.state().end()) return;
    std::vector<at::Tensor> tensors;
    for (const at::Tensor& tensor : stateTensors(*found->second)) {
      tensors.push_back(tensor.reshape(-1)
                            .narrow(0, piece.parameterOffset, piece.numel)
                            .to(at::TensorOptions().device(device), /*non_blocking=*/false,
                                /*copy=*/true));
    }
    optimizer.state()[mine.unsafeGetTensorImpl()] =
        makeState(kind, std::move(tensors), stateStep(*found->second));
  });
}

void ShardedOptimizer::emitWholeState(const torch::optim::Optimizer& optimizer,
                                      const TensorSink* emit) {
  RINGTRAIN_CHECK((groupControl_.rank() == 0) == (emit != nullptr),
                  "the whole optimizer state goes to the group's rank 0 only");
  const std::optional<int64_t> step = agreedStep(optimizer);
  if (!step) return;
  const StateKind kind = kindOf(optimizer);
  const ddp::NamedParameters& trained = reducer_.parameters();
  // The field being assembled; the pieces of a parameter arrive in order and tile it.
  at::Tensor field;
  collectPieces(
      optimizer,
      [&](size_t parameter, size_t, const ddp::ShardPiece& piece, const at::Tensor& values) {
        const at::Tensor& like = trained[parameter].second;
        if (piece.parameterOffset == 0)
          field = at::empty(like.sizes(), like.options().device(at::kCPU));
        field.view(-1).narrow(0, piece.parameterOffset, piece.numel).copy_(values);
        if (piece.parameterOffset + piece.numel == like.numel()) {
          (*emit)(field);
          field = at::Tensor();
        }
      },
      [&](size_t) {
        if (kind == StateKind::kAdamW) (*emit)(stepTensor(*step));
      });
}

void ShardedOptimizer::writeState(const torch::optim::Optimizer& optimizer, const ByteSink* sink) {
  RINGTRAIN_CHECK((groupControl_.rank() == 0) == (sink != nullptr),
                  "the optimizer state is written by the group's rank 0 only");
  const std::optional<int64_t> step = agreedStep(optimizer);
  const StateKind kind = kindOf(optimizer);
  if (sink) {
    const std::string header =
        stateFileHeader(kind, step ? reducer_.parameters() : ddp::NamedParameters());
    (*sink)(header.data(), header.size());
  }
  if (!step) return;
  collectPieces(
      optimizer,
      [&](size_t, size_t, const ddp::ShardPiece&, const at::Tensor& values) {
        writeTensor(values, *sink);
      },
      [&](size_t) {
        if (kind == StateKind::kAdamW) writeTensor(stepTensor(*step), *sink);
      });
}

bool ShardedOptimizer::updatesThePieces(const torch::optim::Optimizer& optimizer) const {
  std::vector<const void*> updated;
  for (const auto& group : optimizer.param_groups()) {
    for (const at::Tensor& parameter : group.params()) {
      updated.push_back(parameter.unsafeGetTensorImpl());
    }
  }
  std::vector<const void*> owned;
  for (const at::Tensor& piece : pieces_) owned.push_back(piece.unsafeGetTensorImpl());
  return updated == owned;
}

std::optional<int64_t> ShardedOptimizer::agreedStep(
    const torch::optim::Optimizer& optimizer) const {
  // Over the ranks: the largest and smallest step + 1 of a piece with state, and whether a piece
  // lacks state. Ranks owning nothing add nothing.
  double largest = 0;
  double smallest = std::numeric_limits<double>::max();
  bool lacking = false;
  forEachPiece([&](const ddp::ShardPiece&, const at::Tensor& mine) {
    const auto found = optimizer.state().find(mine.unsafeGetTensorImpl());
    if (found == optimizer.state().end()) {
      lacking = true;
      return;
    }
    const auto mark = static_cast<double>(stateStep(*found->second) + 1);
    largest = std::max(largest, mark);
    smallest = std::min(smallest, mark);
  });
  // An optimizer over other tensors than the pieces (the module's parameters, say) would find no
  // state here and write none.
  at::Tensor marks =
      at::tensor({largest, -smallest, lacking ? 1.0 : 0.0, updatesThePieces(optimizer) ? 0.0 : 1.0},
                 at::kDouble);
  groupControl_.allReduce(marks, comm::ReduceOp::kMax);
  RINGTRAIN_USER_CHECK(marks[3].item<double>() == 0, kNotOverThePieces);
  if (marks[0].item<double>() == 0) return std::nullopt;  // none before the first update
  RINGTRAIN_CHECK(marks[2].item<double>() == 0,
                  "some parameters have optimizer state on one rank and none on another");
  RINGTRAIN_CHECK(marks[0].item<double>() == -marks[1].item<double>(),
                  "the pieces of a sharded optimizer have stepped different numbers of times");
  return static_cast<int64_t>(marks[0].item<double>()) - 1;
}

void ShardedOptimizer::collectPieces(const torch::optim::Optimizer& optimizer,
                                     const PieceArrival& arrive,
                                     const std::function<void(size_t)>& finished) const {
  comm::Communicator& control = groupControl_;
  const bool first = control.rank() == 0;
  const ddp::NamedParameters& trained = reducer_.parameters();
  // Every rank's pieces of each parameter, in the parameter's order. Every rank checks that they
  // tile it, so that all throw together rather than leave one waiting.
  std::vector<std::vector<std::pair<int, ddp::ShardPiece>>> owners(trained.size());
  for (int rank = 0; rank < control.size(); ++rank) {
    for (const ddp::BucketShard& shard :
         ddp::shardBuckets(reducer_.buckets(), control.size(), rank)) {
      for (const ddp::ShardPiece& piece : shard.pieces) {
        owners[piece.parameter].emplace_back(rank, piece);
      }
    }
  }
  for (size_t p = 0; p < trained.size(); ++p) {
    std::sort(owners[p].begin(), owners[p].end(), [](const auto& a, const auto& b) {
      return a.second.parameterOffset < b.second.parameterOffset;
    });
    int64_t next = 0;
    for (const auto& [rank, piece] : owners[p]) {
      RINGTRAIN_CHECK(piece.parameterOffset == next, "shards that do not tile a parameter");
      next += piece.numel;
    }
    RINGTRAIN_CHECK(next == trained[p].second.numel(), "shards that do not tile a parameter");
  }
  // This rank's state by parameter: a rank owns one span of a bucket, so at most one piece of a
  // parameter.
  std::map<size_t, std::vector<at::Tensor>> mine;
  forEachPiece([&](const ddp::ShardPiece& piece, const at::Tensor& tensor) {
    mine[piece.parameter] = stateTensors(*optimizer.state().at(tensor.unsafeGetTensorImpl()));
  });
  c10::NoGradGuard noGrad;
  const size_t fields = stateFieldNames(kindOf(optimizer)).size();
  for (size_t p = 0; p < trained.size(); ++p) {
    for (size_t field = 0; field < fields; ++field) {
      for (const auto& [rank, piece] : owners[p]) {
        if (rank == control.rank()) {
          const at::Tensor values = mine.at(p)[field].to(at::kCPU).contiguous();
          if (first) {
            arrive(p, field, piece, values);
          } else {
            control.send(values, 0);
          }
        } else if (first) {
          at::Tensor received = at::empty(
              {piece.numel}, trained[p].second.options().device(at::kCPU).requires_grad(false));
          control.recv(received, rank);
          arrive(p, field, piece, received);
        }
      }
    }
    if (first) finished(p);
  }
}

std::string ShardedOptimizer::describe() const {
  int64_t owned = 0;
  for (const at::Tensor& piece : pieces_) owned += piece.numel();
  int64_t total = 0;
  for (const auto& [name, parameter] : reducer_.parameters()) total += parameter.numel();
  std::ostringstream text;
  text << "--zero " << zeroStage_ << ": optimizer state"
       << (zeroStage_ == 2 ? " and gradients" : "") << " sharded over " << group_.size()
       << " replicas (this rank updates " << owned << " of " << total << " parameter elements)";
  return text.str();
}

}  // namespace ringtrain::train
