// The --model-spec network each built-in model is (docs/your-own-model.md). Model files present
// built-in models through it (train/ModelFile.h): its JSON as metadata and its tensor names, so
// that tools/spec_to_torch.py rebuilds any model ringtrain writes. The models themselves, and
// checkpoints, keep their own names. Pure: JSON and names, no tensors.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ringtrain/models/Model.h"

namespace ringtrain::models {

struct SpecEquivalent {
  std::string network;  // the JSON list of layers
  // Each module of the built-in model ("hidden.0", "embedding.tokens") and the spec layer that
  // holds the same tensors ("1"): the built-in "hidden.0.weight" is the spec's "1.weight".
  std::vector<std::pair<std::string, std::string>> modules;
};

// For mlp, cnn, gpt and autoencoder, of `spec.inputShape` and `spec.numClasses`; nullopt for
// spec and custom models. UserError when `spec` cannot make a model (as makeModel).
std::optional<SpecEquivalent> specEquivalentOf(const ModelSpec& spec);

// A built-in model's tensor name as the spec names it (toSpec), or the other way; nullopt when
// it belongs to no module of `equivalent`.
std::optional<std::string> renamed(const SpecEquivalent& equivalent, const std::string& name,
                                   bool toSpec);

}  // namespace ringtrain::models
