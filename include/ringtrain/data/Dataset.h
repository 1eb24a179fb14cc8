// In-memory labelled datasets and the loaders that build them from a data spec:
//   synthetic:N[:DIM[:CLASSES]]  Gaussian inputs labelled by a fixed random "teacher" network
//   csv:PATH or PATH.csv         label column + numeric features, no header by default; PATH may
//                                be a directory, whose *.csv files are read in name order
//   idx:DIR or DIR               MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte
//                                for training, t10k-* for validation)
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ringtrain/Export.h"

namespace ringtrain::data {

// What standardisation does to a table of features: (x - mean) / scale, feature by feature, with
// the statistics of the training set. The one rule for the scale lives here, so that training,
// validation, `ringtrain eval`, shard data sets and the saved model file all divide by the same
// numbers.
struct FeatureStatistics {
  std::vector<double> mean;
  // The standard deviation (with n - 1), or 1 for a feature that is constant in the training
  // set, as scikit-learn's StandardScaler treats one (its scale_ takes n): a value such a feature
  // never took in training is centred, not multiplied by the inverse of a rounding error.
  std::vector<double> scale;
};

// True when a feature with this mean and standard deviation over `count` samples is constant up
// to the rounding of computing them in double precision (scikit-learn's bound): a spread of zero,
// or one no larger than the error of computing a variance of values that size. Also for one
// sample, and for a standard deviation that is not a number.
RINGTRAIN_API bool isConstantFeature(double mean, double deviation, int64_t count);

// The statistics of `count` samples whose features have these means and standard deviations. A
// standard deviation too small for a float32 (below 1e-38, from subnormal data) is taken as 1
// too: float32 features cannot be divided by it.
RINGTRAIN_API FeatureStatistics featureStatistics(std::vector<double> mean,
                                                  const std::vector<double>& deviation,
                                                  int64_t count);

struct RINGTRAIN_API Dataset {
  at::Tensor features;  // [N, ...sampleShape], float32
  at::Tensor labels;    // [N], int64 in [0, numClasses)
  int64_t numClasses = 0;
  std::string source;  // for messages: the spec or file it came from
  // For messages, where it was read from: "train.csv:14" for row 12 of a CSV file with a header
  // and a blank line. Set by the CSV reader (and kept until the rows are split); empty otherwise.
  std::function<std::string(int64_t row)> placeOfRow;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  std::vector<int64_t> sampleShape() const;
};

// Some rows of a data set, as the training loop reads them.
struct Batch {
  at::Tensor features;  // [n, ...sampleShape], float32
  at::Tensor labels;    // [n], int64
};

enum class Split { kTrain, kValidation };

// CsvOptions::labelColumn for tables without labels (k-means, PCA): every label reads 0.
constexpr int kNoLabelColumn = -1;

struct CsvOptions {
  bool header = false;  // skip the first line of every file
  int labelColumn = 0;  // 0-based, or kNoLabelColumn
};

struct LoadOptions {
  CsvOptions csv;
  uint64_t seed = 0;  // synthetic data is a function of (seed, split)
};

RINGTRAIN_API Dataset loadDataset(const std::string& spec, Split split, const LoadOptions& options);

// A seeded random `fraction` of the rows 0..size-1 for validation, the rest for training, each in
// the order of one random permutation. UserError naming `source` when too few rows are left.
struct SplitRows {
  std::vector<int64_t> train;
  std::vector<int64_t> validation;
};
RINGTRAIN_API SplitRows validationSplit(int64_t size, double fraction, uint64_t seed,
                                        const std::string& source);

// Takes a seeded random `fraction` of `all` as validation; returns {train, validation}.
RINGTRAIN_API std::pair<Dataset, Dataset> splitOffValidation(const Dataset& all, double fraction,
                                                             uint64_t seed);

// Standardises both with the training set's statistics (below), and returns them.
RINGTRAIN_API FeatureStatistics standardize(Dataset& train, Dataset& validation);
RINGTRAIN_API FeatureStatistics
standardize(Dataset& train);  // when nothing is held out (--val none)

// (x - mean) / scale per feature: what training applied, for scoring a saved model.
RINGTRAIN_API void applyStandardization(Dataset& dataset, const FeatureStatistics& statistics);

}  // namespace ringtrain::data
