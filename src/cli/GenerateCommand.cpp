// ringtrain generate: continues a prompt with a language model that `ringtrain train` saved, one
// token at a time, each predicted from the last --context tokens (the model's window).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ContinuationWriter.h"
#include "SavedModelInput.h"
#include "TokenSampling.h"
#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "ringtrain/util/Error.h"
#include "text/SentencePiece.h"
#include "train/ModelFile.h"

namespace ringtrain::cli {
namespace {

// Whether the saved model reads windows of token ids of `vocabulary`: --model gpt, or a spec whose
// first layer embeds them all. (A network of as many classes over 1-D features reads numbers.)
bool readsTokens(const train::SavedModel& saved, int64_t vocabulary) {
  const models::ModelSpec& spec = saved.spec;
  if (spec.inputShape.size() != 1 || spec.numClasses != vocabulary || saved.standardization)
    return false;
  if (spec.kind == models::ModelKind::kGpt) return true;
  if (spec.kind != models::ModelKind::kSpec) return false;
  const nlohmann::json network = nlohmann::json::parse(spec.network);
  const nlohmann::json& layers = network.is_object() ? network.at("layers") : network;
  if (layers.empty()) return false;
  const nlohmann::json& first = layers.front();
  return first.value("type", "") == "Embedding" &&
         first.value("num_embeddings", int64_t{0}) >= vocabulary;
}

// The tokenizer the model was trained with; files of earlier versions say nothing, and were
// trained on bytes if they read 256 token ids.
std::unique_ptr<text::Tokenizer> tokenizerOf(const train::SavedModel& saved,
                                             const std::string& path) {
  std::unique_ptr<text::Tokenizer> tokenizer =
      saved.tokenizer ? text::tokenizerOf(*saved.tokenizer, path) : text::byteTokenizer();
  RINGTRAIN_USER_CHECK(
      readsTokens(saved, tokenizer->vocabularySize()),
      path << " is not a language model over "
           << (saved.tokenizer ? saved.tokenizer->kind : std::string(text::kByteTokenizer))
           << " tokens: generate needs --model gpt, or a --model-spec network whose first layer "
              "embeds the token ids and whose last gives a class per id, trained on the output "
              "of ringtrain prep --format text");
  return tokenizer;
}

cxxopts::Options generateOptions() {
  cxxopts::Options options("ringtrain generate",
                           "Continue a prompt with a language model trained on the output of "
                           "ringtrain prep --format text (--model gpt, or a --model-spec network "
                           "over token windows), in its tokenizer's tokens, and print the prompt "
                           "and its continuation.");
  const auto text = [](const char* value) {
    return cxxopts::value<std::string>()->default_value(value);
  };
  options.add_options()("model", "a model.safetensors written by ringtrain train",
                        cxxopts::value<std::string>(),
                        "FILE")("prompt", "the text to continue", cxxopts::value<std::string>(),
                                "TEXT")("max-tokens", "tokens to add", text("64"), "N")(
      "temperature", "0: always the most likely token; otherwise sample softmax(logits / T)",
      text("0.8"), "T")("top-k", "sample among the K most likely tokens (0: all)", text("200"),
                        "K")("seed", "seed of the sampling", text("1"), "S")(
      "device", "cpu, cuda or auto", text("auto"), "DEVICE")("h,help", "show this help");
  return options;
}

}  // namespace

int runGenerate(int argc, char** argv) {
  cxxopts::Options options = generateOptions();
  const cxxopts::ParseResult flags = flags::parseFlags(options, argc, argv);
  if (flags.count("help")) {
    std::cout << options.help();
    return 0;
  }
  RINGTRAIN_USER_CHECK(flags.count("model"), "--model FILE is required");
  RINGTRAIN_USER_CHECK(flags.count("prompt"), "--prompt TEXT is required");
  const std::string path = flags["model"].as<std::string>();
  const std::string prompt = flags["prompt"].as<std::string>();
  RINGTRAIN_USER_CHECK(!prompt.empty(), "--prompt must hold at least one character");
  const int64_t maxTokens =
      flags::parseInteger("max-tokens", flags["max-tokens"].as<std::string>());
  RINGTRAIN_USER_CHECK(maxTokens >= 0, "--max-tokens must not be negative");
  SamplingOptions sampling;
  sampling.temperature = flags::parseReal("temperature", flags["temperature"].as<std::string>());
  sampling.topK = flags::parseInteger("top-k", flags["top-k"].as<std::string>());
  checkSamplingOptions(sampling);
  const int64_t seed = flags::parseInteger("seed", flags["seed"].as<std::string>());
  const c10::Device device = modelDevice(flags);

  train::SavedModel saved = train::loadSavedModel(path);
  const std::unique_ptr<text::Tokenizer> tokenizer = tokenizerOf(saved, path);
  std::vector<int64_t> promptIds;
  tokenizer->encode(prompt, promptIds);
  RINGTRAIN_USER_CHECK(!promptIds.empty(), "--prompt '" << prompt << "' gives no tokens");
  const int64_t context = saved.spec.inputShape[0];
  models::Classifier& model = *saved.model;
  // One prediction per window (a spec ending in SelectToken) is learnt from whole windows.
  RINGTRAIN_USER_CHECK(
      model.predictsEveryPosition() || static_cast<int64_t>(promptIds.size()) >= context,
      path << " predicts from whole windows of " << context
           << " tokens: give a --prompt of at least " << context << " tokens (it "
           << "has " << promptIds.size() << ")");
  model.to(device);
  model.eval();
  c10::NoGradGuard noGrad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));

  // Ids as the model reads them: float features.
  std::vector<float> tokens(promptIds.begin(), promptIds.end());
  std::vector<int64_t> generated;
  ContinuationWriter writer(std::cout);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < maxTokens; ++i) {
    const auto window = static_cast<int64_t>(std::min<size_t>(tokens.size(), context));
    const at::Tensor input =
        at::from_blob(tokens.data() + tokens.size() - window, {1, window}, at::kFloat).to(device);
    at::Tensor logits = model.forward(input);
    // [1, window, V] from a model of every position, [1, V] from one of the last.
    logits = logits.dim() == 3 ? logits[0][window - 1] : logits[0];
    const int64_t next = nextToken(logits, sampling, generator);
    // Once the model has run, so that an error leaves no half-written text.
    if (i == 0) std::cout << prompt;
    tokens.push_back(static_cast<float>(next));
    generated.push_back(next);
    writer.update(continuationOf(*tokenizer, promptIds, generated));
  }
  if (maxTokens == 0) std::cout << prompt;
  writer.finish();
  std::cout << std::endl;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "generate: " << maxTokens << " tokens in " << seconds << " s" << std::endl;
  return 0;
}

}  // namespace ringtrain::cli
