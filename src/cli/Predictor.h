// What `ringtrain predict` computes from each kind of file a ringtrain job writes, one batch of
// samples at a time:
//   a classifier's model.safetensors   class (the most probable), p_0 .. p_{C-1} (softmax)
//   an autoencoder's model.safetensors code_0 .. code_{K-1} (the code layer's activations)
//   k-means' centres.safetensors       cluster (the nearest centre), distance (squared)
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ringtrain/data/Dataset.h"
#include "train/ModelFile.h"

namespace ringtrain::cli {

struct Predictor {
  std::string describes;             // for the log: "classifier (mlp, 3 classes)"
  std::vector<std::string> columns;  // of the table written
  std::vector<int64_t> inputShape;   // one sample, as the data must provide it
  // What training subtracted and divided by; k-means centres are of the features as read.
  std::optional<data::FeatureStatistics> standardization;
  std::optional<train::DataSplit> split;  // how training split its data, when the file says
  std::optional<text::TokenizerRecord> tokenizer;  // a language model's
  // [batch, ...inputShape] on the predictor's device -> [batch, columns] float32 on the CPU.
  std::function<at::Tensor(const at::Tensor& features)> predict;
};

// Reads `path` (--model), with the model's parameters placed on `device`. UserError naming the
// file when ringtrain did not write it or it holds no model predict knows.
Predictor loadPredictor(const std::string& path, c10::Device device);

}  // namespace ringtrain::cli
