// What the training loop reads samples from: any data set that can hand out rows by index, held
// in memory (CSV, IDX, synthetic) or memory-mapped from shard files (ShardedDataset.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

class SampleSource {
 public:
  virtual ~SampleSource() = default;

  virtual int64_t size() const = 0;
  virtual std::vector<int64_t> sampleShape() const = 0;
  virtual int64_t numClasses() const = 0;
  virtual const std::string& source() const = 0;  // for messages
  // What a sample's label is: 0, one class id (labels [n]); L > 0, a target for each of the L
  // positions of a token window (labels [n, L]: the window shifted by one token).
  virtual int64_t targetLength() const { return 0; }

  // Rows `rows[0..count)` as one batch, in that order. Safe to call from several threads at once.
  // `pinned`: the batch lies in page-locked memory, for asynchronous copies to a GPU.
  virtual Batch gather(const int64_t* rows, int64_t count, bool pinned) const = 0;
  // These rows will be gathered soon: where they are on disk, reading may start now.
  virtual void willGather(const int64_t* /*rows*/, int64_t /*count*/) const {}
  // Whether gathering may wait for the disk (memory-mapped files), so that assembling batches
  // ahead on another thread pays.
  virtual bool readsFromDisk() const { return false; }
};

// The class id per sample that a model with one output per sample learns: `labels` itself, or
// for token windows ([n, L] targets) the last target, the token after the window.
at::Tensor perSampleLabels(const at::Tensor& labels);

// A data set held in memory.
std::shared_ptr<const SampleSource> inMemorySource(Dataset dataset);

// Rows `rows` of `all`, renumbered from 0: a split that copies no samples.
std::shared_ptr<const SampleSource> rowSubset(std::shared_ptr<const SampleSource> all,
                                              std::vector<int64_t> rows, std::string source);

}  // namespace ringtrain::data
