// model.safetensors: the trained parameters by name (see models/Model.h), float32, plus metadata
// describing the model so that it can be rebuilt (model kind, hidden sizes, input shape, classes).
#pragma once

#include <string>

#include "ringtrain/models/Model.h"

namespace ringtrain::train {

void saveModel(const std::string& path, models::Classifier& model, const models::ModelSpec& spec);

// Copies every tensor of `path` into the parameter of the same name. UserError naming the file
// and tensor when a name is missing or extra, or a shape or dtype differs.
void loadInitialWeights(const std::string& path, models::Classifier& model);

}  // namespace ringtrain::train
