#include "SpecNetwork.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "TransformerBlock.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::models {
namespace {

using ordered_json = nlohmann::ordered_json;
using Shape = std::vector<int64_t>;
using Forward = std::function<at::Tensor(const at::Tensor&)>;

std::string shapeText(const Shape& shape) {
  std::ostringstream text;
  text << "[";
  for (size_t i = 0; i < shape.size(); ++i) text << (i ? ", " : "") << shape[i];
  text << "]";
  return text.str();
}

// Sizes in a spec are at most this; products of them are checked for overflow.
constexpr int64_t kLargestSize = (int64_t{1} << 31) - 1;

// 1-based line and column of a byte offset, for JSON errors.
std::string lineAndColumn(const std::string& text, size_t byte) {
  byte = std::min(byte, text.size());
  const size_t lineStart = text.rfind('\n', byte == 0 ? 0 : byte - 1);
  const auto line =
      1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(byte), '\n');
  const size_t column = lineStart == std::string::npos ? byte : byte - lineStart - 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(std::max<size_t>(column, 1));
}

// One layer's fields, read once each; whatever is left over at the end is an unknown field.
class LayerFields {
 public:
  LayerFields(const ordered_json& layer, std::string where)
      : layer_(layer), where_(std::move(where)) {
    used_.insert("type");
    used_.insert("name");
  }

  const std::string& where() const { return where_; }
  [[noreturn]] void fail(const std::string& message) const {
    throw UserError(where_ + ": " + message);
  }

  // Asking for a field makes it one the layer knows, for finish()'s message.
  bool has(const char* name) {
    used_.insert(name);
    return layer_.contains(name);
  }
  int64_t positive(const char* name) {
    if (!has(name)) fail(std::string("needs \"") + name + "\"");
    return integer(name, 1);
  }
  int64_t positiveOr(const char* name, int64_t fallback) {
    return has(name) ? integer(name, 1) : fallback;
  }
  int64_t integerOr(const char* name, int64_t fallback) {
    return has(name) ? integer(name, std::numeric_limits<int64_t>::min()) : fallback;
  }
  std::optional<int64_t> optionalPositive(const char* name) {
    if (!has(name)) return std::nullopt;
    return integer(name, 1);
  }
  // A size or a [height, width] pair, as PyTorch's 2-D layers take them.
  std::pair<int64_t, int64_t> pair(const char* name, int64_t minimum) {
    if (!has(name)) fail(std::string("needs \"") + name + "\"");
    return pairOr(name, minimum, {0, 0});
  }
  std::pair<int64_t, int64_t> pairOr(const char* name, int64_t minimum,
                                     std::pair<int64_t, int64_t> fallback) {
    if (!has(name)) return fallback;
    const ordered_json& value = take(name);
    if (value.is_array() && value.size() == 2) {
      return {checked(name, value[0], minimum), checked(name, value[1], minimum)};
    }
    const int64_t both = checked(name, value, minimum);
    return {both, both};
  }
  Shape sizes(const char* name) {
    const ordered_json& value = take(name);
    if (!value.is_array() || value.empty()) {
      fail(std::string("\"") + name + "\" must be a list of positive sizes, got " + value.dump());
    }
    Shape sizes;
    for (const ordered_json& item : value) sizes.push_back(checked(name, item, 1));
    return sizes;
  }
  // A size or a list of sizes.
  Shape sizesOr(const char* name, Shape fallback) {
    if (!has(name)) return fallback;
    if (layer_.at(name).is_array()) return sizes(name);
    return {integer(name, 1)};
  }
  bool flagOr(const char* name, bool fallback) {
    if (!has(name)) return fallback;
    const ordered_json& value = take(name);
    if (!value.is_boolean()) fail(std::string("\"") + name + "\" must be true or false");
    return value.get<bool>();
  }
  double numberOr(const char* name, double fallback, double low, double high) {
    if (!has(name)) return fallback;
    const ordered_json& value = take(name);
    if (!value.is_number() || value.get<double>() < low || value.get<double>() > high) {
      std::ostringstream message;
      message << "\"" << name << "\" must be a number in [" << low << ", " << high << "], got "
              << value.dump();
      fail(message.str());
    }
    return value.get<double>();
  }
  std::string choiceOr(const char* name, const std::vector<std::string>& choices,
                       const std::string& fallback) {
    if (!has(name)) return fallback;
    const ordered_json& value = take(name);
    if (value.is_string() &&
        std::find(choices.begin(), choices.end(), value.get<std::string>()) != choices.end()) {
      return value.get<std::string>();
    }
    std::string known;
    for (const std::string& choice : choices) known += (known.empty() ? "" : ", ") + choice;
    fail(std::string("\"") + name + "\" must be one of " + known + ", got " + value.dump());
  }

  // A size the layer could have taken from its input, given anyway: it must agree.
  void expect(const char* name, int64_t actual, const Shape& input) {
    if (const auto given = optionalPositive(name); given && *given != actual) {
      fail(std::string(name) + " is " + std::to_string(*given) + " but its input " +
           shapeText(input) + " has " + std::to_string(actual));
    }
  }

  void finish() const {
    for (const auto& item : layer_.items()) {
      if (used_.count(item.key()) == 0) {
        std::string known;
        for (const std::string& field : used_) {
          if (field != "type" && field != "name") known += (known.empty() ? "" : ", ") + field;
        }
        fail("unknown field \"" + item.key() + "\"" +
             (known.empty() ? " (this layer takes none)" : " (it takes " + known + ")"));
      }
    }
  }

 private:
  const ordered_json& take(const char* name) {
    used_.insert(name);
    return layer_.at(name);
  }
  int64_t integer(const char* name, int64_t minimum) { return checked(name, take(name), minimum); }
  int64_t checked(const char* name, const ordered_json& value, int64_t minimum) const {
    const bool integer = value.is_number_integer();
    if (!integer || value.get<int64_t>() < minimum || value.get<int64_t>() > kLargestSize ||
        (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(kLargestSize))) {
      fail(std::string("\"") + name + "\" must be an integer" +
           (minimum == 1   ? " from 1"
            : minimum == 0 ? " from 0"
                           : " from -" + std::to_string(kLargestSize)) +
           " to " + std::to_string(kLargestSize) + ", got " + value.dump());
    }
    return value.get<int64_t>();
  }

  const ordered_json& layer_;
  std::string where_;
  std::set<std::string> used_;
};

// What one spec layer turns into: its module (null for a plain function), what it computes, and
// the shape of one sample after it.
struct BuiltLayer {
  std::shared_ptr<torch::nn::Module> module;
  Forward forward;
  Shape output;
};

struct BuildContext {
  LayerFields& fields;
  const Shape& input;
};

using Builder = std::function<BuiltLayer(BuildContext&)>;

// A layer that is a module: LibTorch's (a ModuleHolder such as torch::nn::Linear) or one of ours.
template <typename Holder>
BuiltLayer moduleLayer(Holder holder, Shape output) {
  return {holder.ptr(), [holder](const at::Tensor& x) mutable { return holder->forward(x); },
          std::move(output)};
}
template <typename Module>
BuiltLayer moduleLayer(std::shared_ptr<Module> module, Shape output) {
  return {module, [module](const at::Tensor& x) { return module->forward(x); }, std::move(output)};
}

int64_t product(const LayerFields& fields, const Shape& shape) {
  int64_t total = 1;
  for (const int64_t extent : shape) {
    if (__builtin_mul_overflow(total, extent, &total)) {
      fields.fail("holds more values per sample than fit in 64 bits: " + shapeText(shape));
    }
  }
  return total;
}

void needRank(const BuildContext& context, size_t rank, const char* what) {
  if (context.input.size() != rank) {
    context.fields.fail("needs " + std::string(what) + " input per sample, got " +
                        shapeText(context.input));
  }
}

int64_t pooledExtent(const LayerFields& fields, int64_t extent, int64_t kernel, int64_t stride,
                     int64_t padding, const Shape& input) {
  const int64_t out = (extent + 2 * padding - kernel) / stride + 1;
  if (extent + 2 * padding < kernel || out < 1) {
    fields.fail("kernel " + std::to_string(kernel) + " does not fit its input " + shapeText(input) +
                " (with padding " + std::to_string(padding) + ")");
  }
  return out;
}

BuiltLayer linear(BuildContext& c) {
  if (c.input.empty()) c.fields.fail("needs an input with features, got a scalar");
  c.fields.expect("in_features", c.input.back(), c.input);
  const int64_t out = c.fields.positive("out_features");
  torch::nn::Linear module(
      torch::nn::LinearOptions(c.input.back(), out).bias(c.fields.flagOr("bias", true)));
  Shape output = c.input;
  output.back() = out;
  return moduleLayer(module, output);
}

BuiltLayer conv2d(BuildContext& c) {
  needRank(c, 3, "a [channels, height, width]");
  c.fields.expect("in_channels", c.input[0], c.input);
  const int64_t out = c.fields.positive("out_channels");
  const auto kernel = c.fields.pair("kernel_size", 1);
  const auto stride = c.fields.pairOr("stride", 1, {1, 1});
  const auto padding = c.fields.pairOr("padding", 0, {0, 0});
  const bool bias = c.fields.flagOr("bias", true);
  const Shape output{
      out, pooledExtent(c.fields, c.input[1], kernel.first, stride.first, padding.first, c.input),
      pooledExtent(c.fields, c.input[2], kernel.second, stride.second, padding.second, c.input)};
  torch::nn::Conv2d module(torch::nn::Conv2dOptions(c.input[0], out, {kernel.first, kernel.second})
                               .stride({stride.first, stride.second})
                               .padding({padding.first, padding.second})
                               .bias(bias));
  return moduleLayer(module, output);
}

BuiltLayer maxPool2d(BuildContext& c) {
  needRank(c, 3, "a [channels, height, width]");
  const auto kernel = c.fields.pair("kernel_size", 1);
  const auto stride = c.fields.pairOr("stride", 1, kernel);
  const auto padding = c.fields.pairOr("padding", 0, {0, 0});
  if (2 * padding.first > kernel.first || 2 * padding.second > kernel.second) {
    c.fields.fail("padding must be at most half the kernel size");
  }
  const Shape output{
      c.input[0],
      pooledExtent(c.fields, c.input[1], kernel.first, stride.first, padding.first, c.input),
      pooledExtent(c.fields, c.input[2], kernel.second, stride.second, padding.second, c.input)};
  return {nullptr,
          [kernel, stride, padding](const at::Tensor& x) {
            return at::max_pool2d(x, {kernel.first, kernel.second}, {stride.first, stride.second},
                                  {padding.first, padding.second});
          },
          output};
}

BuiltLayer adaptiveAvgPool2d(BuildContext& c) {
  needRank(c, 3, "a [channels, height, width]");
  const auto size = c.fields.pair("output_size", 1);
  return {nullptr,
          [size](const at::Tensor& x) {
            return at::adaptive_avg_pool2d(x, {size.first, size.second});
          },
          {c.input[0], size.first, size.second}};
}

// PyTorch's dimensions count the batch: 1 is a sample's first.
BuiltLayer flatten(BuildContext& c) {
  const auto rank = static_cast<int64_t>(c.input.size());
  const int64_t start = c.fields.integerOr("start_dim", 1);
  int64_t end = c.fields.integerOr("end_dim", -1);
  if (end < 0) end += rank + 1;
  if (start < 1 || start > rank || end < start || end > rank) {
    c.fields.fail("start_dim " + std::to_string(start) + " and end_dim " +
                  std::to_string(c.fields.integerOr("end_dim", -1)) +
                  " must pick sample dimensions of its input " + shapeText(c.input) +
                  " (1 is a sample's first; 0, the batch, cannot be flattened)");
  }
  Shape output(c.input.begin(), c.input.begin() + (start - 1));
  output.push_back(product(c.fields, Shape(c.input.begin() + (start - 1),
                                           c.input.begin() + static_cast<ptrdiff_t>(end))));
  output.insert(output.end(), c.input.begin() + static_cast<ptrdiff_t>(end), c.input.end());
  return {nullptr, [start, end](const at::Tensor& x) { return x.flatten(start, end); }, output};
}

BuiltLayer unflatten(BuildContext& c) {
  const auto rank = static_cast<int64_t>(c.input.size());
  const int64_t dim = c.fields.integerOr("dim", 1);
  const Shape sizes = c.fields.sizes("unflattened_size");
  if (dim < 1 || dim > rank) {
    c.fields.fail("dim " + std::to_string(dim) + " is not a sample dimension of its input " +
                  shapeText(c.input));
  }
  if (product(c.fields, sizes) != c.input[dim - 1]) {
    c.fields.fail("unflattened_size " + shapeText(sizes) + " holds " +
                  std::to_string(product(c.fields, sizes)) + " values but dimension " +
                  std::to_string(dim) + " of its input " + shapeText(c.input) + " has " +
                  std::to_string(c.input[dim - 1]));
  }
  Shape output(c.input.begin(), c.input.begin() + (dim - 1));
  output.insert(output.end(), sizes.begin(), sizes.end());
  output.insert(output.end(), c.input.begin() + dim, c.input.end());
  return {nullptr,
          [dim, sizes](const at::Tensor& x) {
            std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + dim);
            shape.insert(shape.end(), sizes.begin(), sizes.end());
            shape.insert(shape.end(), x.sizes().begin() + dim + 1, x.sizes().end());
            return x.reshape(shape);
          },
          output};
}

BuiltLayer elementwise(BuildContext& c, Forward forward) {
  return {nullptr, std::move(forward), c.input};
}

BuiltLayer gelu(BuildContext& c) {
  const std::string approximate = c.fields.choiceOr("approximate", {"none", "tanh"}, "none");
  return elementwise(c, [approximate](const at::Tensor& x) { return at::gelu(x, approximate); });
}

// A module without state, registered so that it follows the network's train() and eval().
BuiltLayer dropout(BuildContext& c) {
  const double p = c.fields.numberOr("p", 0.5, 0.0, 1.0);
  if (p >= 1.0) c.fields.fail("\"p\" must be below 1, or every value would be dropped");
  return moduleLayer(torch::nn::Dropout(torch::nn::DropoutOptions(p)), c.input);
}

// Over a sample's trailing dimensions, by default its last.
BuiltLayer layerNorm(BuildContext& c) {
  if (c.input.empty()) c.fields.fail("needs an input with features, got a scalar");
  const Shape normalized = c.fields.sizesOr("normalized_shape", {c.input.back()});
  if (normalized.size() > c.input.size() ||
      !std::equal(normalized.rbegin(), normalized.rend(), c.input.rbegin())) {
    c.fields.fail("normalized_shape " + shapeText(normalized) +
                  " is not the trailing part of its input " + shapeText(c.input));
  }
  torch::nn::LayerNorm module(torch::nn::LayerNormOptions(normalized)
                                  .eps(c.fields.numberOr("eps", 1e-5, 0, 1))
                                  .elementwise_affine(c.fields.flagOr("elementwise_affine", true)));
  return moduleLayer(module, c.input);
}

// BatchNorm1d over [features] or [channels, length]; BatchNorm2d over [channels, h, w]. Their
// running statistics are buffers: averaged over the ranks before evaluation and saved with the
// model.
template <typename Norm, typename Options>
BuiltLayer batchNorm(BuildContext& c, bool twoD) {
  if (twoD) {
    needRank(c, 3, "a [channels, height, width]");
  } else if (c.input.size() != 1 && c.input.size() != 2) {
    c.fields.fail("needs a [features] or [channels, length] input per sample, got " +
                  shapeText(c.input));
  }
  c.fields.expect("num_features", c.input[0], c.input);
  Norm module(Options(c.input[0])
                  .eps(c.fields.numberOr("eps", 1e-5, 0, 1))
                  .momentum(c.fields.numberOr("momentum", 0.1, 0, 1))
                  .affine(c.fields.flagOr("affine", true))
                  .track_running_stats(true));
  return moduleLayer(module, c.input);
}

// Token ids (the samples of a token data set, stored as numbers) -> [length, embedding_dim].
class TokenEmbedding : public torch::nn::Module {
 public:
  // Initialised as nn.Embedding is, from N(0, 1).
  TokenEmbedding(int64_t vocabulary, int64_t width, std::string where)
      : vocabulary_(vocabulary),
        where_(std::move(where)),
        weight_(register_parameter("weight", at::randn({vocabulary, width}))) {}
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor ids = x.to(at::kLong);
    // On GPUs the embedding's own device-side check stops the job, without a host sync per step.
    if (!ids.is_cuda() && ids.numel() > 0) {
      const int64_t lowest = ids.min().item<int64_t>();
      const int64_t highest = ids.max().item<int64_t>();
      RINGTRAIN_USER_CHECK(lowest >= 0 && highest < vocabulary_,
                           where_ << ": token id " << (lowest < 0 ? lowest : highest)
                                  << " is outside num_embeddings " << vocabulary_);
    }
    return at::embedding(weight_, ids);
  }

 private:
  int64_t vocabulary_;
  std::string where_;
  at::Tensor weight_;
};

BuiltLayer embedding(BuildContext& c) {
  needRank(c, 1, "a [length] window of token ids");
  const int64_t vocabulary = c.fields.positive("num_embeddings");
  const int64_t width = c.fields.positive("embedding_dim");
  return moduleLayer(std::make_shared<TokenEmbedding>(vocabulary, width, c.fields.where()),
                     {c.input[0], width});
}

// Learned position vectors added to [length, width]: "weight" [num_positions, width].
class PositionalEmbedding : public torch::nn::Module {
 public:
  PositionalEmbedding(int64_t positions, int64_t width) {
    weight_ = register_parameter("weight", at::randn({positions, width}));
  }
  at::Tensor forward(const at::Tensor& x) {
    return x + weight_.narrow(0, 0, x.size(1)).unsqueeze(0);
  }

 private:
  at::Tensor weight_;
};

BuiltLayer positionalEmbedding(BuildContext& c) {
  needRank(c, 2, "a [length, width]");
  const int64_t positions = c.fields.positiveOr("num_positions", c.input[0]);
  if (positions < c.input[0]) {
    c.fields.fail("num_positions " + std::to_string(positions) + " is fewer than the " +
                  std::to_string(c.input[0]) + " positions of its input " + shapeText(c.input));
  }
  return moduleLayer(std::make_shared<PositionalEmbedding>(positions, c.input[1]), c.input);
}

BuiltLayer transformerBlock(BuildContext& c) {
  needRank(c, 2, "a [length, width]");
  TransformerBlockShape shape;
  shape.width = c.input[1];
  shape.heads = c.fields.positive("heads");
  if (shape.width % shape.heads != 0) {
    c.fields.fail(std::to_string(shape.heads) + " heads do not divide the width " +
                  std::to_string(shape.width) + " of its input " + shapeText(c.input));
  }
  shape.mlpWidth = c.fields.positiveOr("mlp_width", 4 * shape.width);
  shape.causal = c.fields.flagOr("causal", true);
  return moduleLayer(std::make_shared<TransformerBlock>(shape), c.input);
}

// One position of a sequence: [length, ...] -> [...]; -1, the last, predicts what follows.
BuiltLayer selectToken(BuildContext& c) {
  if (c.input.size() < 2) {
    c.fields.fail("needs a [length, ...] input per sample, got " + shapeText(c.input));
  }
  const int64_t length = c.input[0];
  const int64_t index = c.fields.integerOr("index", -1);
  if (index < -length || index >= length) {
    c.fields.fail("index " + std::to_string(index) + " is outside the " + std::to_string(length) +
                  " positions of its input " + shapeText(c.input));
  }
  const int64_t position = index < 0 ? index + length : index;
  return {nullptr, [position](const at::Tensor& x) { return x.select(1, position); },
          Shape(c.input.begin() + 1, c.input.end())};
}

const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> table{
      {"AdaptiveAvgPool2d", adaptiveAvgPool2d},
      {"BatchNorm1d",
       [](BuildContext& c) {
         return batchNorm<torch::nn::BatchNorm1d, torch::nn::BatchNorm1dOptions>(c, false);
       }},
      {"BatchNorm2d",
       [](BuildContext& c) {
         return batchNorm<torch::nn::BatchNorm2d, torch::nn::BatchNorm2dOptions>(c, true);
       }},
      {"Conv2d", conv2d},
      {"Dropout", dropout},
      {"Embedding", embedding},
      {"Flatten", flatten},
      {"GELU", gelu},
      {"LayerNorm", layerNorm},
      {"Linear", linear},
      {"MaxPool2d", maxPool2d},
      {"PositionalEmbedding", positionalEmbedding},
      {"ReLU",
       [](BuildContext& c) {
         return elementwise(c, [](const at::Tensor& x) { return at::relu(x); });
       }},
      {"SelectToken", selectToken},
      {"Sigmoid",
       [](BuildContext& c) {
         return elementwise(c, [](const at::Tensor& x) { return at::sigmoid(x); });
       }},
      {"Tanh",
       [](BuildContext& c) {
         return elementwise(c, [](const at::Tensor& x) { return at::tanh(x); });
       }},
      {"TransformerBlock", transformerBlock},
      {"Unflatten", unflatten},
  };
  return table;
}

std::string knownTypes() {
  std::string known;
  for (const std::string& type : specLayerTypes()) known += (known.empty() ? "" : ", ") + type;
  return known;
}

Shape shapeOf(const ordered_json& value, const std::string& where) {
  RINGTRAIN_USER_CHECK(
      value.is_array() && !value.empty(),
      where << ": \"input_shape\" must be a list of positive sizes, got " << value.dump());
  Shape shape;
  for (const ordered_json& item : value) {
    RINGTRAIN_USER_CHECK(
        item.is_number_integer() && item.get<int64_t>() > 0,
        where << ": \"input_shape\" must be a list of positive sizes, got " << value.dump());
    shape.push_back(item.get<int64_t>());
  }
  return shape;
}

}  // namespace

std::vector<std::string> specLayerTypes() {
  std::vector<std::string> types;
  for (const auto& item : builders()) types.push_back(item.first);
  return types;
}

NetworkDescription parseNetwork(const std::string& text, const std::string& source) {
  const std::string where = "--model-spec " + source;
  ordered_json parsed;
  try {
    parsed = ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    std::string reason = error.what();
    // nlohmann's message starts with its own error id and position; the line says where.
    if (const size_t colon = reason.find(": syntax error"); colon != std::string::npos) {
      reason = reason.substr(colon + 2);
    }
    throw UserError(where + ": not valid JSON at " + lineAndColumn(text, error.byte) + ": " +
                    reason);
  }
  NetworkDescription network;
  network.source = source;
  const ordered_json* layers = &parsed;
  if (parsed.is_object()) {
    for (const auto& item : parsed.items()) {
      RINGTRAIN_USER_CHECK(item.key() == "layers" || item.key() == "input_shape",
                           where << ": unknown key \"" << item.key()
                                 << "\" (a network has \"layers\" and may have \"input_shape\")");
    }
    RINGTRAIN_USER_CHECK(parsed.contains("layers"), where << ": has no \"layers\" list");
    layers = &parsed["layers"];
    if (parsed.contains("input_shape")) {
      network.inputShape = shapeOf(parsed["input_shape"], where);
    }
  }
  RINGTRAIN_USER_CHECK(layers->is_array(),
                       where << ": a network is a list of layers, or an object with a \"layers\" "
                                "list");
  RINGTRAIN_USER_CHECK(!layers->empty(), where << ": the list of layers is empty");
  for (size_t i = 0; i < layers->size(); ++i) {
    const ordered_json& layer = (*layers)[i];
    RINGTRAIN_USER_CHECK(
        layer.is_object() && layer.contains("type") && layer["type"].is_string(),
        where << ": layer " << i << " must be an object with a \"type\", got " << layer.dump());
    const std::string type = layer["type"].get<std::string>();
    RINGTRAIN_USER_CHECK(builders().count(type) == 1,
                         where << ": layer " << i << ": unknown type \"" << type
                               << "\" (known: " << knownTypes() << ")");
    RINGTRAIN_USER_CHECK(!layer.contains("name") || layer["name"].is_string(),
                         where << ": layer " << i << ": \"name\" must be a string");
    network.layers.push_back(layer);
  }
  return network;
}

SpecNetwork::SpecNetwork(const NetworkDescription& network, const Shape& inputShape,
                         int64_t classes) {
  const std::string where = "--model-spec " + network.source;
  RINGTRAIN_USER_CHECK(network.inputShape.empty() || network.inputShape == inputShape,
                       where << ": \"input_shape\" is " << shapeText(network.inputShape)
                             << " but the data's samples are " << shapeText(inputShape));
  Shape shape = inputShape;
  // Pipeline stages are cut between layers with parameters: a layer without (an activation, a
  // pooling) runs with the one before it, or with the first when it leads.
  std::vector<Layer> units;
  std::vector<Forward> leading;
  for (size_t i = 0; i < network.layers.size(); ++i) {
    const ordered_json& layer = network.layers[i];
    const std::string type = layer["type"].get<std::string>();
    std::string label = where + ": layer " + std::to_string(i);
    if (layer.contains("name")) label += " '" + layer["name"].get<std::string>() + "'";
    label += " (" + type + ")";
    LayerFields fields(layer, label);
    BuildContext context{fields, shape};
    BuiltLayer built;
    try {
      built = builders().at(type)(context);
    } catch (const c10::Error& error) {
      fields.fail(std::string("cannot be built: ") + error.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      fields.fail("cannot be built: out of memory for its parameters");
    }
    fields.finish();
    shape = built.output;
    if (built.module) register_module(std::to_string(i), built.module);
    // Pipeline units hold state: parameters, or buffers that stages gather.
    if (built.module && (!built.module->parameters().empty() || !built.module->buffers().empty())) {
      Forward forward = std::move(built.forward);
      if (units.empty() && !leading.empty()) {
        forward = [before = std::move(leading), forward](const at::Tensor& x) {
          at::Tensor y = x;
          for (const Forward& step : before) y = step(y);
          return forward(y);
        };
        leading.clear();
      }
      units.push_back({std::to_string(i), built.module, std::move(forward)});
    } else if (units.empty()) {
      leading.push_back(std::move(built.forward));
    } else {
      units.back().forward = [first = std::move(units.back().forward),
                              then = std::move(built.forward)](const at::Tensor& x) {
        return then(first(x));
      };
    }
    if (i + 1 == network.layers.size()) {
      // A window of L tokens in, [L, classes] out: a prediction at every position.
      const bool everyPosition = inputShape.size() == 1 && shape == Shape{inputShape[0], classes};
      RINGTRAIN_USER_CHECK(shape == Shape{classes} || everyPosition,
                           label << ": the network's output is " << shapeText(shape)
                                 << " per sample but the data has " << classes
                                 << " classes: the last layer must give [" << classes << "]"
                                 << (inputShape.size() == 1 && shape.size() == 2
                                         ? ", or [" + std::to_string(inputShape[0]) + ", " +
                                               std::to_string(classes) +
                                               "] for a prediction at every position of a "
                                               "token window"
                                         : std::string()));
      if (everyPosition) predictEveryPosition();
    }
  }
  RINGTRAIN_USER_CHECK(!parameters().empty(), where << ": the network has no parameters to train");
  for (Layer& unit : units) addLayer(std::move(unit));
}

}  // namespace ringtrain::models
