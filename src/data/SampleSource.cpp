#include "data/SampleSource.h"

#include <ATen/ATen.h>

namespace ringtrain::data {
namespace {

class InMemorySource final : public SampleSource {
 public:
  explicit InMemorySource(Dataset dataset) : dataset_(std::move(dataset)) {}

  int64_t size() const override { return dataset_.size(); }
  std::vector<int64_t> sampleShape() const override { return dataset_.sampleShape(); }
  int64_t numClasses() const override { return dataset_.numClasses; }
  const std::string& source() const override { return dataset_.source; }

  Batch gather(const int64_t* rows, int64_t count, bool pinned) const override {
    const at::Tensor index = at::from_blob(const_cast<int64_t*>(rows), {count}, at::kLong);
    if (!pinned) {
      return {dataset_.features.index_select(0, index), dataset_.labels.index_select(0, index)};
    }
    auto shape = dataset_.features.sizes().vec();
    shape[0] = count;
    Batch batch{at::empty(shape, dataset_.features.options().pinned_memory(true)),
                at::empty({count}, dataset_.labels.options().pinned_memory(true))};
    at::index_select_out(batch.features, dataset_.features, 0, index);
    at::index_select_out(batch.labels, dataset_.labels, 0, index);
    return batch;
  }

 private:
  Dataset dataset_;
};

class RowSubset final : public SampleSource {
 public:
  RowSubset(std::shared_ptr<const SampleSource> all, std::vector<int64_t> rows, std::string source)
      : all_(std::move(all)), rows_(std::move(rows)), source_(std::move(source)) {}

  int64_t size() const override { return static_cast<int64_t>(rows_.size()); }
  std::vector<int64_t> sampleShape() const override { return all_->sampleShape(); }
  int64_t numClasses() const override { return all_->numClasses(); }
  const std::string& source() const override { return source_; }
  int64_t targetLength() const override { return all_->targetLength(); }

  Batch gather(const int64_t* rows, int64_t count, bool pinned) const override {
    const std::vector<int64_t> mapped = map(rows, count);
    return all_->gather(mapped.data(), count, pinned);
  }
  void willGather(const int64_t* rows, int64_t count) const override {
    const std::vector<int64_t> mapped = map(rows, count);
    all_->willGather(mapped.data(), count);
  }
  bool readsFromDisk() const override { return all_->readsFromDisk(); }

 private:
  std::vector<int64_t> map(const int64_t* rows, int64_t count) const {
    std::vector<int64_t> mapped(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) mapped[i] = rows_.at(static_cast<size_t>(rows[i]));
    return mapped;
  }

  std::shared_ptr<const SampleSource> all_;
  std::vector<int64_t> rows_;
  std::string source_;
};

}  // namespace

at::Tensor perSampleLabels(const at::Tensor& labels) {
  return labels.dim() == 2 ? labels.select(1, labels.size(1) - 1).contiguous() : labels;
}

std::shared_ptr<const SampleSource> inMemorySource(Dataset dataset) {
  return std::make_shared<InMemorySource>(std::move(dataset));
}

std::shared_ptr<const SampleSource> rowSubset(std::shared_ptr<const SampleSource> all,
                                              std::vector<int64_t> rows, std::string source) {
  return std::make_shared<RowSubset>(std::move(all), std::move(rows), std::move(source));
}

}  // namespace ringtrain::data
