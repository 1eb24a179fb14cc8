#include "train/ShardedOptimizer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
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

void ShardedOptimizer::gatherState(const torch::optim::Optimizer& optimizer,
                                   torch::optim::Optimizer* whole) {
  comm::Communicator& control = groupControl_;
  const bool first = control.rank() == 0;
  RINGTRAIN_CHECK(first == (whole != nullptr), "the whole optimizer belongs to rank 0 only");
  const std::optional<int64_t> step = agreedStep(optimizer);
  if (whole) {
    whole->state().clear();
    // The learning rate of the last step, as an unsharded optimizer has it.
    whole->param_groups().front().set_options(optimizer.param_groups().front().options().clone());
  }
  if (!step) return;
  const StateKind kind = kindOf(optimizer);
  const size_t fields = stateFieldNames(kind).size();
  c10::NoGradGuard noGrad;
  if (!first) {
    forEachPiece([&](const ddp::ShardPiece&, const at::Tensor& mine) {
      const auto& state = *optimizer.state().at(mine.unsafeGetTensorImpl());
      for (const at::Tensor& tensor : stateTensors(state)) control.send(tensor.cpu(), 0);
    });
    return;
  }
  const ddp::NamedParameters& trained = reducer_.parameters();
  std::vector<std::vector<at::Tensor>> tensors(trained.size());
  for (size_t p = 0; p < trained.size(); ++p) {
    for (size_t field = 0; field < fields; ++field) {
      tensors[p].push_back(
          at::empty(trained[p].second.sizes(), trained[p].second.options().device(at::kCPU)));
    }
  }
  const auto slotsOf = [&](const ddp::ShardPiece& piece) {
    std::vector<at::Tensor> slots;
    for (const at::Tensor& tensor : tensors[piece.parameter]) {
      slots.push_back(tensor.view(-1).narrow(0, piece.parameterOffset, piece.numel));
    }
    return slots;
  };
  forEachPiece([&](const ddp::ShardPiece& piece, const at::Tensor& mine) {
    const std::vector<at::Tensor> states =
        stateTensors(*optimizer.state().at(mine.unsafeGetTensorImpl()));
    std::vector<at::Tensor> slots = slotsOf(piece);
    for (size_t field = 0; field < slots.size(); ++field) slots[field].copy_(states[field]);
  });
  for (int rank = 1; rank < control.size(); ++rank) {
    for (const ddp::BucketShard& shard :
         ddp::shardBuckets(reducer_.buckets(), control.size(), rank)) {
      for (const ddp::ShardPiece& piece : shard.pieces) {
        for (at::Tensor& slot : slotsOf(piece)) control.recv(slot, rank);
      }
    }
  }
  for (size_t p = 0; p < trained.size(); ++p) {
    whole->state()[trained[p].second.unsafeGetTensorImpl()] =
        makeState(kind, std::move(tensors[p]), *step);
  }
}

std::optional<int64_t> ShardedOptimizer::agreedStep(
    const torch::optim::Optimizer& optimizer) const {
  int64_t mark = 0;  // the step + 1, or 0 without state
  bool lacking = false;
  forEachPiece([&](const ddp::ShardPiece&, const at::Tensor& mine) {
    const auto found = optimizer.state().find(mine.unsafeGetTensorImpl());
    if (found == optimizer.state().end()) {
      lacking = true;
    } else {
      mark = stateStep(*found->second) + 1;
    }
  });
  at::Tensor marks = at::tensor({static_cast<double>(mark), lacking ? 1.0 : 0.0}, at::kDouble);
  groupControl_.allReduce(marks, comm::ReduceOp::kMax);
  const auto agreed = static_cast<int64_t>(marks[0].item<double>());
  if (agreed == 0) return std::nullopt;
  RINGTRAIN_CHECK(marks[1].item<double>() == 0,
                  "some parameters have optimizer state on one rank and none on another");
  return agreed - 1;
}

void ShardedOptimizer::writeState(const torch::optim::Optimizer& optimizer, const ByteSink* sink) {
  comm::Communicator& control = groupControl_;
  RINGTRAIN_CHECK((control.rank() == 0) == (sink != nullptr),
                  "the optimizer state is written by the group's rank 0 only");
  const std::optional<int64_t> step = agreedStep(optimizer);
  const StateKind kind = kindOf(optimizer);
  const ddp::NamedParameters& trained = reducer_.parameters();
  if (sink) {
    std::vector<io::TensorEntry> entries;
    for (size_t p = 0; step && p < trained.size(); ++p) {
      for (io::TensorEntry& entry : stateEntries(kind, trained[p].first, trained[p].second)) {
        entries.push_back(std::move(entry));
      }
    }
    const std::string header = stateFileHeader(kind, entries);
    (*sink)(header.data(), header.size());
  }
  if (!step) return;
  c10::NoGradGuard noGrad;
  const auto write = [&](const at::Tensor& tensor) {
    const at::Tensor host = tensor.to(at::kCPU).contiguous();
    (*sink)(host.const_data_ptr(), host.nbytes());
  };
  // Parameter by parameter, field by field, the pieces in the parameter's order: the file's
  // order, in which each rank sends its own pieces.
  std::vector<std::vector<std::pair<int, ddp::ShardPiece>>> owners(trained.size());
  for (int rank = 0; rank < control.size(); ++rank) {
    if (!sink && rank != control.rank()) continue;
    for (const ddp::BucketShard& shard :
         ddp::shardBuckets(reducer_.buckets(), control.size(), rank)) {
      for (const ddp::ShardPiece& piece : shard.pieces) {
        owners[piece.parameter].emplace_back(rank, piece);
      }
    }
  }
  for (auto& pieces : owners) {
    std::sort(pieces.begin(), pieces.end(), [](const auto& a, const auto& b) {
      return a.second.parameterOffset < b.second.parameterOffset;
    });
  }
  if (sink) {
    for (size_t p = 0; p < trained.size(); ++p) {
      int64_t next = 0;
      for (const auto& [rank, piece] : owners[p]) {
        RINGTRAIN_CHECK(piece.parameterOffset == next, "shards that do not tile a parameter");
        next += piece.numel;
      }
      RINGTRAIN_CHECK(next == trained[p].second.numel(), "shards that do not tile a parameter");
    }
  }
  std::map<size_t, std::vector<at::Tensor>> mine;  // this rank's pieces' state, by parameter
  forEachPiece([&](const ddp::ShardPiece& piece, const at::Tensor& tensor) {
    mine[piece.parameter] = stateTensors(*optimizer.state().at(tensor.unsafeGetTensorImpl()));
  });
  const size_t fields = stateFieldNames(kind).size();
  for (size_t p = 0; p < trained.size(); ++p) {
    for (size_t field = 0; field < fields; ++field) {
      for (const auto& [rank, piece] : owners[p]) {
        if (rank == control.rank()) {
          if (sink) {
            write(mine.at(p)[field]);
          } else {
            control.send(mine.at(p)[field].to(at::kCPU).contiguous(), 0);
          }
        } else {
          at::Tensor received = at::empty(
              {piece.numel}, trained[p].second.options().device(at::kCPU).requires_grad(false));
          control.recv(received, rank);
          write(received);
        }
      }
    }
    if (sink && kind == StateKind::kAdamW) write(stepTensor(*step));
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
