// ReLU hidden layers and a linear output layer, registered into an owning module as hidden.<i>.*
// and output.*; used by the MLP and as the CNN's classifier head.
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "ringtrain/models/Model.h"

namespace ringtrain::models {

// Registers the layers into `owner` and returns them in order. `flattenInput`: the first layer
// flattens each sample.
std::vector<Layer> makeDenseLayers(torch::nn::Module& owner, int64_t inputs,
                                   const std::vector<int64_t>& hidden, int64_t classes,
                                   bool flattenInput);

}  // namespace ringtrain::models
