#include "comm/ShardedCollectives.h"

#include <ATen/ATen.h>

#include <vector>

#include "ringtrain/util/Error.h"

namespace ringtrain::comm {
namespace {

bool ring(AllReduceAlgorithm algorithm, const Communicator& comm, const at::Tensor& tensor) {
  if (algorithm != AllReduceAlgorithm::kAuto) return algorithm == AllReduceAlgorithm::kRing;
  const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
  return comm.reducesOnHost() && !tensor.is_cuda() && bytes >= kAutoRingHalvesFromBytes;
}

// The backend's equal parts: their length (the first shard's, never shorter than another), and
// this rank's shard of `flat`.
struct EqualParts {
  int64_t length = 0;
  Span own;
};

EqualParts equalParts(const at::Tensor& flat, const Communicator& comm) {
  const std::vector<Span> shards = shardSpans(flat.numel(), comm.size());
  return {shards.front().length(), shards[static_cast<size_t>(comm.rank())]};
}

// A transfer from `input` into `output`, buffers of the backend's shapes, whose part `from` is
// copied to `to` once it is done (in stream order on GPUs, as wait() orders the transfer). The
// buffers live as long as the transfer: it is declared last, so it is destroyed (and waited for)
// first.
class ThenCopy final : public PendingTransfer {
 public:
  ThenCopy(at::Tensor input, at::Tensor output, at::Tensor from, at::Tensor to,
           std::unique_ptr<PendingTransfer> transfer)
      : input_(std::move(input)),
        output_(std::move(output)),
        from_(std::move(from)),
        to_(std::move(to)),
        transfer_(std::move(transfer)) {}
  void wait() override {
    if (!transfer_) return;
    transfer_->wait();
    transfer_.reset();
    to_.copy_(from_);
  }

 private:
  at::Tensor input_;
  at::Tensor output_;
  at::Tensor from_;
  at::Tensor to_;
  std::unique_ptr<PendingTransfer> transfer_;
};

}  // namespace

std::unique_ptr<PendingTransfer> startReduceScatterShards(AllReduceAlgorithm algorithm,
                                                          Communicator& comm, at::Tensor& tensor,
                                                          ReduceOp op, const RingOptions& options) {
  RINGTRAIN_CHECK(tensor.is_contiguous(), "reduceScatterShards needs a contiguous tensor");
  if (comm.size() == 1 || tensor.numel() == 0) return std::make_unique<CompletedTransfer>();
  if (ring(algorithm, comm, tensor)) {
    ringReduceScatter(comm, tensor, op, options);
    return std::make_unique<CompletedTransfer>();
  }
  at::Tensor flat = tensor.view(-1);
  const auto [length, own] = equalParts(flat, comm);
  at::Tensor whole = flat;
  if (length * comm.size() != flat.numel()) {
    // The backend's parts are equal: the tail up to ranks x length is zeros, never read back.
    whole = at::empty({length * comm.size()}, flat.options());
    whole.slice(0, 0, flat.numel()).copy_(flat);
    whole.slice(0, flat.numel()).zero_();
  }
  at::Tensor mine = at::empty({length}, flat.options());
  std::unique_ptr<PendingTransfer> transfer = comm.startReduceScatter(whole, mine, op);
  return std::make_unique<ThenCopy>(whole, mine, mine.slice(0, 0, own.length()),
                                    flat.slice(0, own.begin, own.end), std::move(transfer));
}

void reduceScatterShards(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                         ReduceOp op, const RingOptions& options) {
  startReduceScatterShards(algorithm, comm, tensor, op, options)->wait();
}

void allGatherShards(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                     const RingOptions& options) {
  RINGTRAIN_CHECK(tensor.is_contiguous(), "allGatherShards needs a contiguous tensor");
  if (comm.size() == 1 || tensor.numel() == 0) return;
  if (ring(algorithm, comm, tensor)) {
    ringAllGather(comm, tensor, options);
    return;
  }
  at::Tensor flat = tensor.view(-1);
  const auto [length, own] = equalParts(flat, comm);
  at::Tensor mine = flat.slice(0, own.begin, own.end);
  if (own.length() != length) {  // a short or empty last shard: the backend's parts are equal
    mine = at::zeros({length}, flat.options());
    mine.slice(0, 0, own.length()).copy_(flat.slice(0, own.begin, own.end));
  }
  const at::Tensor all = comm.allGather(mine).view(-1);  // [ranks * length], shard r at r * length
  flat.copy_(all.slice(0, 0, flat.numel()));
}

}  // namespace ringtrain::comm
