// A sequential network described as data (--model-spec FILE.json):
//   {"input_shape": [1, 28, 28],            optional: checked against the data's samples
//    "layers": [{"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
//               {"type": "ReLU"}, ...]}
// or just the list of layers. Field names follow PyTorch's modules; sizes a layer can take from
// its input (in_features, in_channels, num_features, ...) may be left out, and when given are
// checked. Every layer's output shape is worked out when the model is made, so a mismatch is
// reported naming the file and the layer before anything trains. docs/your-own-model.md lists the
// layers; tools/spec_to_torch.py builds the same network in PyTorch.
//
// Parameters are named "<i>.<name>" after the layer's place in the list, as nn.Sequential names
// them ("0.weight", "3.bias", "5.attention.qkv.weight").
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "ringtrain/models/Model.h"

namespace ringtrain::models {

struct NetworkDescription {
  std::vector<nlohmann::ordered_json> layers;  // each an object with a "type"
  std::vector<int64_t> inputShape;             // empty: whatever the data has
  std::string source;                          // the file, for messages
};

// UserError naming `source` (and the line, for bad JSON) when the text is not a network.
NetworkDescription parseNetwork(const std::string& text, const std::string& source);

// The names of the layer types a spec may use, for messages and docs.
std::vector<std::string> specLayerTypes();

class SpecNetwork final : public Classifier {
 public:
  // UserError naming the layer when a size does not fit its input, or the output is neither
  // [classes] nor, for an input window of L tokens, [L, classes] (a prediction per position).
  SpecNetwork(const NetworkDescription& network, const std::vector<int64_t>& inputShape,
              int64_t classes);
};

}  // namespace ringtrain::models
