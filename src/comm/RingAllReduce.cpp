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
  RINGTRAIN_CHECK(tensor.is_contiguous(), "ringAllReduce needs a contiguous tensor");
  RINGTRAIN_CHECK(op != ReduceOp::kAvg || at::isFloatingType(tensor.scalar_type()),
                  "ReduceOp::kAvg needs a floating-point tensor");
  RINGTRAIN_CHECK(options.pieceBytes > 0, "ring piece size must be positive");
  const int size = comm.size();
  if (size == 1 || tensor.numel() == 0) return;

  const RingSchedule schedule{comm.rank(), size};
  const int right = (schedule.rank + 1) % size;
  const int left = (schedule.rank + size - 1) % size;
  at::Tensor flat = tensor.view(-1);
  const std::vector<Span> segments = splitEvenly(flat.numel(), size);
  // Every segment is cut into the same number of pieces, so each piece sent pairs with a piece
  // of the same index received, whatever the segments' lengths.
  const int64_t pieceElements = std::max<int64_t>(1, options.pieceBytes / flat.element_size());
  const auto pieceCount = static_cast<int>(
      std::max<int64_t>(1, (segments.front().length() + pieceElements - 1) / pieceElements));
  at::Tensor scratch = scratchFor(segments.front().length(), flat.options());
  std::vector<std::vector<Span>> pieces;  // [segment][piece], in elements of `flat`
  for (const Span& segment : segments) {
    pieces.push_back(splitEvenly(segment.length(), pieceCount));
    for (Span& piece : pieces.back()) piece = shifted(piece, segment.begin);
  }
  const auto piecesOf = [&](int segment) -> const std::vector<Span>& {
    return pieces[static_cast<size_t>(segment)];
  };

  // Reduce-scatter. In the last step a piece is final as soon as it is reduced, so it starts on
  // its way round the allgather while the later pieces are still being reduced.
  std::vector<std::unique_ptr<PendingTransfer>> transfers(static_cast<size_t>(pieceCount));
  std::vector<std::unique_ptr<PendingTransfer>> gathering(static_cast<size_t>(pieceCount));
  const int owned = schedule.ownedSegment();
  for (int step = 0; step < size - 1; ++step) {
    const std::vector<Span>& outgoing = piecesOf(schedule.reduceScatterSend(step));
    const std::vector<Span>& incoming = piecesOf(schedule.reduceScatterReceive(step));
    const int64_t incomingBegin = incoming.front().begin;
    std::vector<at::Tensor> landings;
    for (size_t p = 0; p < transfers.size(); ++p) {
      landings.push_back(slice(scratch, shifted(incoming[p], -incomingBegin)));
      transfers[p] = comm.startSendRecv(slice(flat, outgoing[p]), right, landings.back(), left);
    }
    const bool last = step == size - 2;
    for (size_t p = 0; p < transfers.size(); ++p) {
      transfers[p]->wait();
      at::Tensor target = slice(flat, incoming[p]);
      combineInto(target, landings[p], op);
      if (!last) continue;
      if (op == ReduceOp::kAvg) target.div_(size);
      at::Tensor landing = slice(flat, piecesOf(schedule.allGatherReceive(0))[p]);
      gathering[p] = comm.startSendRecv(slice(flat, piecesOf(owned)[p]), right, landing, left);
    }
  }
  // Allgather: each piece moves on as soon as it has arrived.
  for (int step = 1; step < size - 1; ++step) {
    const std::vector<Span>& outgoing = piecesOf(schedule.allGatherSend(step));
    const std::vector<Span>& incoming = piecesOf(schedule.allGatherReceive(step));
    for (size_t p = 0; p < gathering.size(); ++p) {
      gathering[p]->wait();
      at::Tensor landing = slice(flat, incoming[p]);
      gathering[p] = comm.startSendRecv(slice(flat, outgoing[p]), right, landing, left);
    }
  }
  for (auto& transfer : gathering) transfer->wait();
}

double allReduceBusFactor(int ranks) {
  return ranks > 1 ? 2.0 * (ranks - 1) / ranks : 0.0;
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
