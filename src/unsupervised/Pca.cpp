#include "unsupervised/Pca.h"

#include <ATen/ATen.h>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "unsupervised/RankRows.h"

namespace ringtrain::unsupervised {
namespace {

// The scatter matrix is d x d float64 and the eigensolver needs a few of it.
constexpr int64_t kMostFeatures = 16384;

}  // namespace

Moments::Moments(int64_t dimension)
    : mean_(at::zeros({dimension}, at::kDouble)),
      scatter_(at::zeros({dimension, dimension}, at::kDouble)) {}

void Moments::add(const at::Tensor& points) {
  const at::Tensor x = points.to(at::kDouble);
  const double batch = static_cast<double>(x.size(0));
  if (batch == 0) return;
  const at::Tensor batchMean = x.mean(0);
  const at::Tensor centred = x - batchMean;
  const at::Tensor delta = batchMean - mean_;
  const double total = count_ + batch;
  scatter_.add_(centred.t().mm(centred));
  scatter_.add_(at::outer(delta, delta), count_ * batch / total);
  mean_.add_(delta, batch / total);
  count_ = total;
}

void Moments::mergeAcrossRanks(comm::Communicator& control) {
  // sum of counts and count-weighted means first, then every rank's scatter around the merged
  // mean: S = sum_r S_r + n_r (m_r - m)(m_r - m)^T.
  const int64_t d = mean_.size(0);
  at::Tensor firstMoments = at::cat({at::full({1}, count_, at::kDouble), mean_ * count_});
  control.allReduce(firstMoments);
  const double total = firstMoments[0].item<double>();
  const at::Tensor mean = firstMoments.narrow(0, 1, d) / total;
  const at::Tensor offset = mean_ - mean;
  at::Tensor scatter = scatter_ + at::outer(offset, offset) * count_;
  control.allReduce(scatter);
  count_ = total;
  mean_ = mean;
  scatter_ = scatter;
}

at::Tensor PcaModel::projection() const {
  return whiten ? components / explainedVariance.sqrt().unsqueeze(1) : components;
}

PcaModel principalComponents(const Moments& moments, int64_t components, bool whiten) {
  const int64_t d = moments.mean().size(0);
  const double n = moments.count();
  RINGTRAIN_USER_CHECK(n >= 2, "PCA needs at least 2 samples; the data has " << n);
  RINGTRAIN_USER_CHECK(components >= 1 && components <= d,
                       "--components " << components << " must be between 1 and the " << d
                                       << " features of the data");
  const at::Tensor covariance = moments.scatter() / (n - 1);
  const auto [values, vectors] = at::linalg_eigh(covariance);  // ascending
  PcaModel model;
  model.samples = static_cast<int64_t>(n);
  model.whiten = whiten;
  model.mean = moments.mean().clone();
  model.totalVariance = covariance.diagonal().sum().item<double>();
  model.explainedVariance = values.flip(0).narrow(0, 0, components).clamp_min(0).contiguous();
  at::Tensor rows = vectors.flip(1).narrow(1, 0, components).t().contiguous();
  const at::Tensor largest = rows.abs().argmax(1, true);
  rows.mul_(rows.gather(1, largest).sign());
  model.components = rows;
  model.explainedVarianceRatio = model.totalVariance > 0
                                     ? model.explainedVariance / model.totalVariance
                                     : at::zeros_like(model.explainedVariance);
  model.singularValues = (model.explainedVariance * (n - 1)).sqrt();
  if (whiten) {
    const double top = values[-1].item<double>();
    for (int64_t c = 0; c < components; ++c) {
      const double variance = model.explainedVariance[c].item<double>();
      RINGTRAIN_USER_CHECK(variance > std::max(top, 1e-300) * 1e-12,
                           "--whiten: component " << c + 1 << " has (numerically) zero variance ("
                                                  << variance << "): the data spans fewer than "
                                                  << components
                                                  << " directions; ask for fewer --components "
                                                     "or leave out --whiten");
    }
  }
  return model;
}

PcaModel runPca(const data::SampleSource& data, comm::Communicator& control, int64_t components,
                bool whiten, int64_t batchRows) {
  const int64_t d = featuresPerSample(data);
  checkSameDataOnEveryRank(data, control);
  comm::runOnAllRanks(control, [&] {
    RINGTRAIN_USER_CHECK(d <= kMostFeatures, data.source()
                                                 << " has " << d
                                                 << " features per sample; PCA here holds a d x d "
                                                    "scatter matrix and takes at most "
                                                 << kMostFeatures);
    RINGTRAIN_USER_CHECK(components >= 1 && components <= d,
                         "--components " << components << " must be between 1 and the " << d
                                         << " features of " << data.source());
  });
  Moments moments(d);
  comm::runOnAllRanks(control, [&] {
    forEachBatch(data, rowsOfRank(data.size(), control.rank(), control.size()), batchRows,
                 [&](const at::Tensor& x, int64_t) { moments.add(x); });
  });
  moments.mergeAcrossRanks(control);
  PcaModel model;
  comm::runOnAllRanks(control, [&] { model = principalComponents(moments, components, whiten); });
  return model;
}

}  // namespace ringtrain::unsupervised
