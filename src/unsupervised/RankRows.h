// Which rows of a data set each rank reads in a pass of k-means or PCA, and reading them: a
// contiguous block per rank (so that shard files are read front to back), in batches, with the
// next batch read on another thread while the current one is used.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "data/SampleSource.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::unsupervised {

struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// Block `rank` of `ranks` nearly equal blocks of rows 0..rows-1 (the first rows % ranks blocks
// one row longer).
RowRange rowsOfRank(int64_t rows, int rank, int ranks);

// Features per sample: the product of the sample shape.
int64_t featuresPerSample(const data::SampleSource& data);

// Collective over `control`: a UserError on every rank unless every rank sees as many samples of
// as many features as rank 0 (each rank opens the data itself, so a host may see another copy).
void checkSameDataOnEveryRank(const data::SampleSource& data, comm::Communicator& control);

// Calls visit(features [b, featuresPerSample] float32, global index of its first row) for the
// rows of `range` in order, `batchRows` at a time. UserError naming the data set and the row
// (1-based) at the first feature that is NaN or infinite.
void forEachBatch(const data::SampleSource& data, RowRange range, int64_t batchRows,
                  const std::function<void(const at::Tensor&, int64_t)>& visit);

}  // namespace ringtrain::unsupervised
