#include <ATen/ATen.h>

#include <algorithm>
#include <memory>

#include "comm/AllReduce.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::comm {
namespace {

void combineInto(at::Tensor& target, const at::Tensor& incoming, ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      target.add_(incoming);
      return;
    case ReduceOp::kMin:
      at::minimum_out(target, target, incoming);
      return;
    case ReduceOp::kMax:
      at::maximum_out(target, target, incoming);
      return;
  }
}

at::Tensor slice(const at::Tensor& flat, const Span& span) {
  return flat.slice(0, span.begin, span.end);
}

Span shifted(const Span& span, int64_t by) {
  return {span.begin + by, span.end + by};
}

// Landing space for received pieces, kept between calls (per thread, so that rings on different
// threads never share it). A fresh block every step, freed between gradients that live on,
// would fragment the heap, and the process keeps the fragments resident.
at::Tensor scratchFor(int64_t elements, const at::TensorOptions& options) {
  thread_local at::Tensor kept;
  const int64_t bytes = elements * static_cast<int64_t>(options.dtype().itemsize());
  if (!kept.defined() || kept.device() != options.device() || kept.numel() < bytes) {
    kept = at::Tensor();  // release the old block before taking a larger one
    kept = at::empty({bytes}, options.dtype(at::kByte));
  }
  return kept.slice(0, 0, bytes).view(options.dtype().toScalarType());
}

// Checks the arguments; false where there is nothing to send (one rank, no elements).
bool ringNeeded(const Communicator& comm, const at::Tensor& tensor, ReduceOp op,
                const RingOptions& options) {
  RINGTRAIN_CHECK(tensor.is_contiguous(), "the ring needs a contiguous tensor");
  RINGTRAIN_CHECK(op != ReduceOp::kAvg || at::isFloatingType(tensor.scalar_type()),
                  "ReduceOp::kAvg needs a floating-point tensor");
  RINGTRAIN_CHECK(options.pieceBytes > 0, "ring piece size must be positive");
  return comm.size() > 1 && tensor.numel() > 0;
}

// One ring over one tensor: its segments (the shards), each cut into the same number of pieces,
// so that each piece sent pairs with a piece of the same index received, whatever the segments'
// lengths.
class Ring {
 public:
  Ring(Communicator& comm, at::Tensor& tensor, const RingOptions& options)
      : comm_(comm),
        schedule_{comm.rank(), comm.size()},
        right_((schedule_.rank + 1) % schedule_.size),
        left_((schedule_.rank + schedule_.size - 1) % schedule_.size),
        flat_(tensor.view(-1)) {
    const std::vector<Span> segments = shardSpans(flat_.numel(), schedule_.size);
    longest_ = segments.front().length();
    const int64_t pieceElements = std::max<int64_t>(1, options.pieceBytes / flat_.element_size());
    pieceCount_ = std::max<int64_t>(1, (longest_ + pieceElements - 1) / pieceElements);
    for (const Span& segment : segments) {
      pieces_.push_back(splitEvenly(segment.length(), static_cast<int>(pieceCount_)));
      for (Span& piece : pieces_.back()) piece = shifted(piece, segment.begin);
    }
    gathering_.resize(static_cast<size_t>(pieceCount_));
  }

  // After it, this rank's segment holds the reduction (divided by the ranks for kAvg). With
  // `startGathering`, a piece that is final starts on its way round the allgather at once, while
  // the later pieces are still being reduced.
  void reduceScatter(ReduceOp op, bool startGathering) {
    at::Tensor scratch = scratchFor(longest_, flat_.options());
    std::vector<std::unique_ptr<PendingTransfer>> transfers(static_cast<size_t>(pieceCount_));
    for (int step = 0; step < schedule_.size - 1; ++step) {
      const std::vector<Span>& outgoing = piecesOf(schedule_.reduceScatterSend(step));
      const std::vector<Span>& incoming = piecesOf(schedule_.reduceScatterReceive(step));
      const int64_t incomingBegin = incoming.front().begin;
      std::vector<at::Tensor> landings;
      for (size_t p = 0; p < transfers.size(); ++p) {
        landings.push_back(slice(scratch, shifted(incoming[p], -incomingBegin)));
        transfers[p] =
            comm_.startSendRecv(slice(flat_, outgoing[p]), right_, landings.back(), left_);
      }
      const bool last = step == schedule_.size - 2;
      for (size_t p = 0; p < transfers.size(); ++p) {
        transfers[p]->wait();
        at::Tensor target = slice(flat_, incoming[p]);
        combineInto(target, landings[p], op);
        if (!last) continue;
        if (op == ReduceOp::kAvg) target.div_(schedule_.size);
        if (startGathering) startGatherStep(0, p);
      }
    }
  }

  // Every segment from its owner to every rank; each piece moves on as soon as it has arrived.
  void allGather() {
    for (size_t p = 0; p < gathering_.size(); ++p) {
      if (!gathering_[p]) startGatherStep(0, p);  // unless reduceScatter started it
    }
    for (int step = 1; step < schedule_.size - 1; ++step) {
      for (size_t p = 0; p < gathering_.size(); ++p) {
        gathering_[p]->wait();
        startGatherStep(step, p);
      }
    }
    for (auto& transfer : gathering_) transfer->wait();
  }

 private:
  const std::vector<Span>& piecesOf(int segment) const {
    return pieces_[static_cast<size_t>(segment)];
  }

  void startGatherStep(int step, size_t piece) {
    at::Tensor landing = slice(flat_, piecesOf(schedule_.allGatherReceive(step))[piece]);
    gathering_[piece] = comm_.startSendRecv(
        slice(flat_, piecesOf(schedule_.allGatherSend(step))[piece]), right_, landing, left_);
  }

  Communicator& comm_;
  const RingSchedule schedule_;
  const int right_;
  const int left_;
  at::Tensor flat_;
  int64_t longest_ = 0;
  int64_t pieceCount_ = 1;
  std::vector<std::vector<Span>> pieces_;  // [segment][piece], in elements of `flat_`
  std::vector<std::unique_ptr<PendingTransfer>> gathering_;  // [piece]
};

}  // namespace

const NameTable<AllReduceAlgorithm>& allReduceAlgorithmNames() {
  static const NameTable<AllReduceAlgorithm> names{{"auto", AllReduceAlgorithm::kAuto},
                                                   {"native", AllReduceAlgorithm::kNative},
                                                   {"ring", AllReduceAlgorithm::kRing}};
  return names;
}

std::string algorithmName(AllReduceAlgorithm algorithm) {
  return nameOf(allReduceAlgorithmNames(), algorithm);
}

std::vector<Span> shardSpans(int64_t count, int parts, int64_t alignElements) {
  RINGTRAIN_CHECK(count >= 0 && parts > 0 && alignElements > 0,
                  "shardSpans(" << count << ", " << parts << ", " << alignElements << ")");
  const int64_t perPart = (count + parts - 1) / parts;
  const int64_t length = (perPart + alignElements - 1) / alignElements * alignElements;
  std::vector<Span> spans;
  spans.reserve(static_cast<size_t>(parts));
  for (int64_t s = 0; s < parts; ++s) {
    spans.push_back({std::min(s * length, count), std::min((s + 1) * length, count)});
  }
  return spans;
}

std::vector<Span> splitEvenly(int64_t count, int parts) {
  RINGTRAIN_CHECK(count >= 0 && parts > 0, "splitEvenly(" << count << ", " << parts << ")");
  std::vector<Span> spans;
  spans.reserve(static_cast<size_t>(parts));
  const int64_t base = count / parts;
  const int64_t longer = count % parts;
  int64_t begin = 0;
  for (int i = 0; i < parts; ++i) {
    const int64_t length = base + (i < longer ? 1 : 0);
    spans.push_back({begin, begin + length});
    begin += length;
  }
  return spans;
}

void ringAllReduce(Communicator& comm, at::Tensor& tensor, ReduceOp op,
                   const RingOptions& options) {
  if (!ringNeeded(comm, tensor, op, options)) return;
  Ring ring(comm, tensor, options);
  ring.reduceScatter(op, /*startGathering=*/true);
  ring.allGather();
}

void ringReduceScatter(Communicator& comm, at::Tensor& tensor, ReduceOp op,
                       const RingOptions& options) {
  if (!ringNeeded(comm, tensor, op, options)) return;
  Ring(comm, tensor, options).reduceScatter(op, /*startGathering=*/false);
}

void ringAllGather(Communicator& comm, at::Tensor& tensor, const RingOptions& options) {
  if (!ringNeeded(comm, tensor, ReduceOp::kSum, options)) return;
  Ring(comm, tensor, options).allGather();
}

double allReduceBusFactor(int ranks) {
  return ranks > 1 ? 2.0 * (ranks - 1) / ranks : 0.0;
}

double reduceScatterBusFactor(int ranks) {
  return ranks > 1 ? static_cast<double>(ranks - 1) / ranks : 0.0;
}

AllReduceAlgorithm resolveAlgorithm(AllReduceAlgorithm algorithm, const Communicator& comm,
                                    int64_t bytes, const RingOptions& options) {
  if (algorithm != AllReduceAlgorithm::kAuto) return algorithm;
  return comm.reducesOnHost() && bytes >= options.autoRingFromBytes ? AllReduceAlgorithm::kRing
                                                                    : AllReduceAlgorithm::kNative;
}

void allReduceWith(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                   ReduceOp op, const RingOptions& options) {
  const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
  if (resolveAlgorithm(algorithm, comm, bytes, options) == AllReduceAlgorithm::kRing) {
    ringAllReduce(comm, tensor, op, options);
  } else {
    comm.allReduce(tensor, op);
  }
}

}  // namespace ringtrain::comm
