// Allreduce algorithms on top of any Communicator.
//
// kNative asks the backend (MPI_Allreduce, ncclAllReduce). kRing is ringtrain's own
// bandwidth-optimal ring: a reduce-scatter and an allgather of size() - 1 steps each, in which
// every rank sends one segment (1/size of the data) to its right neighbour and receives one from
// its left. Each step's segment travels in pieces, and a piece is reduced as soon as it lands while
// the later pieces are still in flight. Every element crosses 2(size-1)/size links, the lower
// bound for allreduce, so its bus bandwidth is directly comparable with the backend's.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ringtrain/comm/Communicator.h"
#include "util/NameTable.h"

namespace ringtrain::comm {

const NameTable<AllReduceAlgorithm>& allReduceAlgorithmNames();  // auto, native, ring
std::string algorithmName(AllReduceAlgorithm algorithm);

// Half-open element range [begin, end).
struct Span {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t length() const { return end - begin; }
};

// Splits `count` elements into `parts` contiguous spans whose lengths differ by at most one (the
// first count % parts spans are the longer ones). Spans may be empty when count < parts.
std::vector<Span> splitEvenly(int64_t count, int parts);

// Which segment a rank sends and receives at each step; pure, so the schedule is unit-tested.
// Reduce-scatter: after step size-2, `rank` holds the full reduction of segment ownedSegment().
// Allgather: it then passes the finished segments on until every rank holds all of them.
struct RingSchedule {
  int rank = 0;
  int size = 1;
  int ownedSegment() const { return (rank + 1) % size; }
  int reduceScatterSend(int step) const { return wrap(rank - step); }
  int reduceScatterReceive(int step) const { return wrap(rank - step - 1); }
  int allGatherSend(int step) const { return wrap(rank + 1 - step); }
  int allGatherReceive(int step) const { return wrap(rank - step); }

 private:
  int wrap(int segment) const { return ((segment % size) + size) % size; }
};

// In place, on `comm`'s device. kAvg needs a floating-point tensor.
void ringAllReduce(Communicator& comm, at::Tensor& tensor, ReduceOp op,
                   const RingOptions& options = {});

// Bus bandwidth = algorithm bandwidth x 2(ranks-1)/ranks: the share of the data each rank must
// send at the least, so that busbw compares with the link's bandwidth (the nccl-tests convention).
double allReduceBusFactor(int ranks);

// What kAuto (or any algorithm) means for a message of `bytes` on `comm`.
AllReduceAlgorithm resolveAlgorithm(AllReduceAlgorithm algorithm, const Communicator& comm,
                                    int64_t bytes, const RingOptions& options = {});
void allReduceWith(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                   ReduceOp op, const RingOptions& options = {});

}  // namespace ringtrain::comm
