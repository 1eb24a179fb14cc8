#include <algorithm>
#include <cxxopts.hpp>
#include <functional>
#include <iostream>
#include <thread>

#include "ProgressMeter.h"
#include "cli/Commands.h"
#include "data/ShardFormat.h"
#include "flags/FlagGroups.h"
#include "flags/FlagValues.h"
#include "prep/Prepare.h"
#include "ringtrain/util/Error.h"
#include "text/SentencePiece.h"
#include "util/Files.h"

namespace ringtrain::cli {
namespace {

prep::InputFormat parseFormat(const std::string& text) {
  const std::string name =
      flags::parseChoice("format", text, {"auto", "csv", "idx", "npy", "text"});
  if (name == "csv") return prep::InputFormat::kCsv;
  if (name == "idx") return prep::InputFormat::kIdx;
  if (name == "npy") return prep::InputFormat::kNpy;
  if (name == "text") return prep::InputFormat::kText;
  return prep::InputFormat::kAuto;
}

// --tokenizer byte | sentencepiece:MODEL | train-sentencepiece:VOCAB; none for bytes.
std::function<std::unique_ptr<text::Tokenizer>(const std::vector<std::string>&)> tokenizerFlag(
    const std::string& value) {
  const size_t colon = value.find(':');
  const std::string kind = value.substr(0, colon);
  const std::string argument = colon == std::string::npos ? "" : value.substr(colon + 1);
  if (value == "byte") return {};
  if (kind == "sentencepiece" && !argument.empty()) {
    return [argument](const std::vector<std::string>&) {
      RINGTRAIN_USER_CHECK(pathExists(argument) && !isDirectory(argument),
                           "--tokenizer sentencepiece:" << argument << ": no such file");
      return text::sentencePieceTokenizer(readFile(argument),
                                          "--tokenizer sentencepiece:" + argument);
    };
  }
  if (kind == "train-sentencepiece" && !argument.empty()) {
    text::SentencePieceTraining training;
    training.vocabularySize = flags::parseInteger("tokenizer", argument);
    RINGTRAIN_USER_CHECK(training.vocabularySize >= text::kSmallestTrainedVocabulary,
                         "--tokenizer " << value
                                        << ": a vocabulary holds the 256 bytes, 3 control pieces "
                                           "and a piece for each character of the text; give at "
                                           "least "
                                        << text::kSmallestTrainedVocabulary);
    // The library takes at most 128.
    training.threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 128u));
    return [training, value](const std::vector<std::string>& files) {
      std::cerr << "prep: training a SentencePiece tokenizer of up to " << training.vocabularySize
                << " pieces on " << files.size() << " file(s)" << std::endl;
      try {
        std::string model = text::trainSentencePiece(files, training);
        return text::sentencePieceTokenizer(std::move(model), "the trained tokenizer");
      } catch (const UserError& error) {
        throw UserError("--tokenizer " + value + ": " + error.what());
      }
    };
  }
  throw UserError("--tokenizer '" + value +
                  "': use byte, sentencepiece:MODEL (a .model file) or "
                  "train-sentencepiece:VOCAB (train one of VOCAB pieces on the text)");
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "x" : "") + std::to_string(shape[i]);
  return text;
}

}  // namespace

int runPrep(int argc, char** argv) {
  cxxopts::Options options(
      "ringtrain prep",
      "Convert CSV, MNIST IDX, NumPy .npy or plain text into a ringtrain data set (a directory "
      "of memory-mapped shards and an index), in constant memory whatever the input size.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  // --input and --output were the first names of --data and --output-dir; they still work.
  options.add_options()("data,input",
                        "a file, or a directory (IDX files, *.csv or *.txt files); also --input",
                        cxxopts::value<std::string>(), "PATH")(
      "output-dir,output", "the data set directory to create; also --output",
      cxxopts::value<std::string>(),
      "DIR")("format", "auto, csv, idx, npy or text (token ids, see --tokenizer)", text("auto"),
             "FMT")("tokenizer",
                    "text: byte (every byte a token), sentencepiece:MODEL (a SentencePiece "
                    ".model file) or train-sentencepiece:VOCAB (train one on the text)",
                    text("byte"), "TOK")(
      "labels", ".npy input: a 1-D integer .npy of labels (default: every label 0)",
      cxxopts::value<std::string>(),
      "FILE")("split", "IDX input: train (train-*) or test (t10k-*)", text("train"), "NAME")(
      "num-classes", "number of classes (0: the largest label + 1)", text("0"), "C")(
      "shard-size", "bytes of features per shard file", text("256M"), "SIZE")(
      "overwrite", "replace an existing data set at --output-dir")("h,help", "show this help");
  flags::addCsvFlags(options, "", "0-based CSV column holding the label", "0");
  flags::addProgressFlag(options, "");
  const cxxopts::ParseResult result = flags::parseFlags(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }
  RINGTRAIN_USER_CHECK(result.count("data") && result.count("output-dir"),
                       "--data and --output-dir are required (see ringtrain prep --help)");
  prep::PrepOptions prepOptions;
  prepOptions.input = result["data"].as<std::string>();
  prepOptions.output = result["output-dir"].as<std::string>();
  prepOptions.format = parseFormat(result["format"].as<std::string>());
  if (result.count("labels")) prepOptions.labels = result["labels"].as<std::string>();
  prepOptions.idxSplit =
      flags::parseChoice("split", result["split"].as<std::string>(), {"train", "test"}) == "train"
          ? data::Split::kTrain
          : data::Split::kValidation;
  prepOptions.csv = flags::readCsvFlags(result, false);
  prepOptions.numClasses =
      flags::parseInteger("num-classes", result["num-classes"].as<std::string>());
  prepOptions.shardBytes =
      flags::parseByteSize("shard-size", result["shard-size"].as<std::string>());
  prepOptions.overwrite = result.count("overwrite") > 0;
  prepOptions.tokenizer = tokenizerFlag(result["tokenizer"].as<std::string>());
  ProgressMeter meter("prep " + prepOptions.input, flags::readProgressFlag(result));
  prepOptions.progress = [&meter](int64_t done, int64_t total) { meter.update(done, total); };

  const data::DatasetIndex index = prep::prepare(prepOptions);
  int64_t bytes = 0;
  for (const data::ShardEntry& shard : index.shards) bytes += shard.bytes;
  std::cout << "prep: wrote " << index.count
            << (index.kind == data::ShardKind::kTokens ? " tokens" : " samples");
  if (index.kind == data::ShardKind::kTokens) {
    std::cout << " (" << index.tokenizer << ", vocabulary " << index.numClasses << ")";
  }
  if (index.kind == data::ShardKind::kSamples) {
    std::cout << " of " << shapeText(index.sampleShape) << " "
              << data::elementTypeName(index.elementType) << ", " << index.numClasses
              << " classes,";
  }
  std::cout << " in " << index.shards.size() << " shard(s), "
            << formatBytes(static_cast<double>(bytes)) << ", to " << prepOptions.output << " in "
            << meter.seconds() << " s" << std::endl;
  return 0;
}

}  // namespace ringtrain::cli
