// Principal component analysis from mergeable sufficient statistics: every rank sums its block
// of rows into a count, a mean and a scatter matrix (centred on that mean), the ranks merge them
// exactly with two allreduces, and the components are the top eigenvectors of the covariance.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "data/SampleSource.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::unsupervised {

// Count, mean and scatter sum (x - mean)(x - mean)^T of the points added so far, in float64.
class Moments {
 public:
  explicit Moments(int64_t dimension);
  void add(const at::Tensor& points);  // [b, d]; merges the batch's moments (Chan et al.)
  // Merges every rank's moments, so that every rank holds those of all points. Collective.
  void mergeAcrossRanks(comm::Communicator& control);

  double count() const { return count_; }
  const at::Tensor& mean() const { return mean_; }
  const at::Tensor& scatter() const { return scatter_; }

 private:
  double count_ = 0;
  at::Tensor mean_;
  at::Tensor scatter_;
};

struct PcaModel {
  at::Tensor mean;                    // [d] float64
  at::Tensor components;              // [c, d] float64, unit rows, largest variance first
  at::Tensor explainedVariance;       // [c]: the covariance's eigenvalues (divided by n - 1)
  at::Tensor explainedVarianceRatio;  // [c]: shares of the total variance
  at::Tensor singularValues;          // [c]: sqrt(eigenvalue * (n - 1)), as scikit-learn has them
  double totalVariance = 0;
  int64_t samples = 0;
  bool whiten = false;
  // What `transform` multiplies centred samples by: the components, each divided by its standard
  // deviation when whitening.
  at::Tensor projection() const;
};

// The top `components` of the moments' covariance. Each component's sign makes its entry of
// largest magnitude positive (scikit-learn's convention). UserError for fewer than two samples,
// more components than features, and whitening a component of (numerically) zero variance.
PcaModel principalComponents(const Moments& moments, int64_t components, bool whiten);

// Collective over `control`: moments of every rank's rows of `data`, merged, then the components.
PcaModel runPca(const data::SampleSource& data, comm::Communicator& control, int64_t components,
                bool whiten, int64_t batchRows);

}  // namespace ringtrain::unsupervised
