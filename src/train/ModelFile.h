// model.safetensors: the trained parameters and buffers by name, float32, plus metadata describing
// the model so that it can be rebuilt: "model" (its kind), "input_shape", "num_classes", the
// settings of its kind ("hidden" for mlp, cnn and autoencoder, "gpt" for gpt) and, for every kind
// but a program's own, the network as --model-spec JSON under "network". A built-in model is
// written as that network (models/SpecEquivalent.h): its tensors carry the spec's names, so that
// tools/spec_to_torch.py rebuilds any model file (files of earlier versions, and --init-from files
// made by hand, may use the built-in names of models/Model.h; both are read). When training
// standardised the features, what it subtracted and divided by (ringtrain/data/Dataset.h) are
// stored as the tensors input_standardization.mean and input_standardization.std, [features]
// each; the latter is the scale, 1 for a feature that was constant in the training set (metadata
// "input_standardization": "scale" says so; files without it hold the standard deviation, which
// is read clamped to at least 1e-6, as the training that wrote them applied it). Metadata "seed"
// and "held_out_fraction" say how training split its data: its --seed, and the share of --train
// it held out for validation (0 when it validated on another data set or on nothing). A language
// model trained on a token data set keeps its tokenizer: metadata "tokenizer" names its kind
// (text/Tokenizer.h), and a SentencePiece model is stored, as the bytes of its .model file, in
// the uint8 tensor tokenizer.sentencepiece.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/models/Model.h"
#include "text/Tokenizer.h"

namespace ringtrain::train {

// How training split its data: what scoring the rows it held out needs to know.
struct DataSplit {
  uint64_t seed = 42;
  std::optional<double> heldOutFraction;  // of --train, when --val was absent
};

void saveModel(const std::string& path, models::Classifier& model, const models::ModelSpec& spec,
               const std::optional<data::FeatureStatistics>& standardization = std::nullopt,
               const std::optional<DataSplit>& split = std::nullopt,
               const std::optional<text::TokenizerRecord>& tokenizer = std::nullopt);

// Copies every tensor of `path` into the parameter or buffer of the same name (of the spec's name
// too, for a built-in model of `spec`). UserError naming `what` (a flag such as --init-from), the
// file and tensor when a name is missing or extra, or a shape or dtype differs.
void loadInitialWeights(const std::string& path, models::Classifier& model,
                        const models::ModelSpec& spec, const std::string& what = "--init-from");

struct SavedModel {
  models::ModelSpec spec;
  std::optional<data::FeatureStatistics> standardization;
  std::optional<DataSplit> split;  // absent from files of earlier versions and of programs
  std::optional<text::TokenizerRecord> tokenizer;  // absent unless trained on a token data set
  std::shared_ptr<models::Classifier> model;       // with the file's values, on the CPU
};

// Rebuilds the model a ringtrain model.safetensors describes and loads its values. UserError
// naming the file when it was not written by ringtrain or does not match its own description.
SavedModel loadSavedModel(const std::string& path);

}  // namespace ringtrain::train
