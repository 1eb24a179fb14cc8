// Tokenizers, and `prep` of text through one. That SentencePiece's ids equal those of its Python
// package is tests/integration/test_tokenizers.py's to show.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "UserErrorOf.h"
#include "cli/ContinuationWriter.h"
#include "data/ShardedDataset.h"
#include "prep/Prepare.h"
#include "text/SentencePiece.h"
#include "util/Files.h"

namespace ringtrain::text {
namespace {

using ringtrain::testing::userErrorOf;

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "ringtrain-tokenizer-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    removeTree(dir_);
    makeDirectories(dir_);
    // Lines of words of one to three syllables drawn at random: frequent syllables and words
    // for the trainer to find.
    const char* syllables[] = {"ka", "to", "ri", "sen", "mo", "la", "pi", "du", "ver", "no"};
    std::ofstream corpus(at("corpus.txt"));
    uint32_t state = 1;
    const auto draw = [&state] {
      state = state * 1664525u + 1013904223u;
      return (state >> 16) % 10;
    };
    for (int line = 0; line < 300; ++line) {
      for (int word = 0; word < 8; ++word) {
        corpus << (word ? " " : "");
        for (uint32_t n = 1 + draw() % 3; n > 0; --n) corpus << syllables[draw()];
      }
      corpus << "\n";
    }
  }
  void TearDown() override { removeTree(dir_); }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }

  std::string trained(int64_t vocabulary) const {
    SentencePieceTraining training;
    training.vocabularySize = vocabulary;
    return trainSentencePiece({at("corpus.txt")}, training);
  }

  std::string dir_;
};

TEST_F(TokenizerTest, BytesRoundTripAnyText) {
  const auto bytes = byteTokenizer();
  const std::string text("caf\xc3\xa9\0\xff", 7);
  std::vector<int64_t> ids{1};
  bytes->encode(text, ids);  // appends
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 'c', 'a', 'f', 0xc3, 0xa9, 0, 0xff}));
  ids.erase(ids.begin());
  EXPECT_EQ(bytes->decode(ids), text);
  EXPECT_EQ(bytes->vocabularySize(), 256);
  EXPECT_NE(userErrorOf([&] { bytes->decode({256}); }).find("token id 256 is not a byte"),
            std::string::npos);
}

TEST_F(TokenizerTest, ATrainedSentencePieceModelRoundTripsItsCorpus) {
  const auto pieces = sentencePieceTokenizer(trained(400), "trained");
  EXPECT_GT(pieces->vocabularySize(), 256);  // byte fallback keeps all 256 bytes
  EXPECT_LE(pieces->vocabularySize(), 400);
  std::vector<int64_t> ids;
  pieces->encode("kato risen mola", ids);
  EXPECT_LE(ids.size(), 6u);  // syllables or words, not letters
  EXPECT_EQ(pieces->decode(ids), "kato risen mola");
  // Characters it never saw come back through their bytes.
  ids.clear();
  pieces->encode("z\xc3\xa9", ids);
  EXPECT_EQ(pieces->decode(ids), "z\xc3\xa9");
  EXPECT_EQ(tokenizerOf(pieces->record(), "x")->vocabularySize(), pieces->vocabularySize());
  EXPECT_NE(userErrorOf([&] {
              pieces->decode({pieces->vocabularySize()});
            }).find("outside the SentencePiece vocabulary"),
            std::string::npos);
}

// Every byte its own id, as a tokenizer that is not the byte tokenizer: prep encodes line by line.
class ByteIds final : public Tokenizer {
 public:
  int64_t vocabularySize() const override { return 300; }
  void encode(std::string_view text, std::vector<int64_t>& ids) const override {
    for (const char byte : text) ids.push_back(static_cast<unsigned char>(byte));
  }
  std::string decode(const std::vector<int64_t>&) const override { return ""; }
  const TokenizerRecord& record() const override { return record_; }

 private:
  TokenizerRecord record_{"byte ids", ""};
};

TEST_F(TokenizerTest, LinesEndInANewLineOrACarriageReturnAndANewLineAlike) {
  std::ofstream(at("lf.txt")) << "ab\n\ncd\ne";
  std::ofstream(at("crlf.txt")) << "ab\r\n\r\ncd\r\ne";
  std::vector<std::vector<float>> ids;
  for (const char* name : {"lf", "crlf"}) {
    prep::PrepOptions options;
    options.input = at(std::string(name) + ".txt");
    options.output = at(name);
    options.tokenizer = [](const std::vector<std::string>&) { return std::make_unique<ByteIds>(); };
    ASSERT_EQ(prep::prepare(options).count, 5);
    data::ShardOpenOptions open;
    open.context = 4;
    const int64_t row = 0;
    const data::Batch window = data::ShardedDataset::open(at(name), open)->gather(&row, 1, false);
    const at::Tensor first = window.features[0].contiguous();
    ids.emplace_back(first.data_ptr<float>(), first.data_ptr<float>() + 4);
  }
  EXPECT_EQ(ids[0], (std::vector<float>{'a', 'b', 'c', 'd'}));
  EXPECT_EQ(ids[1], ids[0]);
}

TEST_F(TokenizerTest, AVocabularyMustHoldTheBytes) {
  SentencePieceTraining training;
  training.vocabularySize = 260;
  EXPECT_NE(userErrorOf([&] {
              trainSentencePiece({at("corpus.txt")}, training);
            }).find("give at least 261 pieces"),
            std::string::npos);
  // A file that cannot be read, met while the library reads the corpus.
  training.vocabularySize = 300;
  EXPECT_NE(userErrorOf([&] {
              trainSentencePiece({at("corpus.txt"), at("absent.txt")}, training);
            }).find("cannot read " + at("absent.txt")),
            std::string::npos);
}

TEST_F(TokenizerTest, AContinuationIsDecodedWithItsPromptAndPrintedOnceSettled) {
  const auto pieces = sentencePieceTokenizer(trained(400), "trained");
  std::vector<int64_t> prompt, next;
  pieces->encode("kato", prompt);
  pieces->encode("risen", next);  // "risen" begins a word: decoded alone, it loses its space
  EXPECT_EQ(cli::continuationOf(*pieces, prompt, next), " risen");
  EXPECT_EQ(cli::continuationOf(*byteTokenizer(), {'a'}, {'b', 'c'}), "bc");

  std::ostringstream out;
  cli::ContinuationWriter writer(out);
  const std::string replacement = "\xEF\xBF\xBD";
  writer.update("a");
  writer.update("a" + replacement);  // the first byte of a two-byte character
  EXPECT_EQ(out.str(), "a");
  writer.update("a\xC3\xA9");
  writer.update("a\xC3\xA9 b" + replacement + replacement);
  EXPECT_EQ(out.str(), "a\xC3\xA9 b");
  writer.finish();  // what never completed is printed at the end
  EXPECT_EQ(out.str(), "a\xC3\xA9 b" + replacement + replacement);
}

TEST_F(TokenizerTest, WhatIsNotATokenizerIsNamed) {
  EXPECT_NE(userErrorOf([] {
              sentencePieceTokenizer("not a model", "--tokenizer m.model");
            }).find("--tokenizer m.model is not a SentencePiece model"),
            std::string::npos);
  EXPECT_NE(userErrorOf([] {
              tokenizerOf({"bpe", ""}, "model.safetensors");
            }).find("model.safetensors: tokenizer 'bpe' is not one"),
            std::string::npos);
  EXPECT_EQ(tokenizerOf({"byte", ""}, "x")->vocabularySize(), 256);
}

TEST_F(TokenizerTest, PrepEncodesTextLineByLineWithTheTokenizer) {
  const std::string model = trained(300);
  prep::PrepOptions options;
  options.input = at("corpus.txt");
  options.output = at("out");
  options.format = prep::InputFormat::kText;
  std::vector<std::string> seen;
  options.tokenizer = [&](const std::vector<std::string>& files) {
    seen = files;
    return sentencePieceTokenizer(model, "model");
  };
  const data::DatasetIndex index = prep::prepare(options);
  EXPECT_EQ(seen, std::vector<std::string>{at("corpus.txt")});
  EXPECT_EQ(index.elementType, data::ElementType::kUInt16);
  EXPECT_EQ(index.tokenizer, "sentencepiece");

  const auto pieces = sentencePieceTokenizer(model, "model");
  std::vector<int64_t> expected;
  std::ifstream corpus(at("corpus.txt"));
  for (std::string line; std::getline(corpus, line);) pieces->encode(line, expected);
  EXPECT_EQ(index.count, static_cast<int64_t>(expected.size()));
  EXPECT_EQ(index.numClasses, pieces->vocabularySize());
  data::ShardOpenOptions open;
  open.context = index.count - 1;  // one window: every token but the last, then the labels
  const auto dataset = data::ShardedDataset::open(at("out"), open);
  const int64_t row = 0;
  const data::Batch batch = dataset->gather(&row, 1, false);
  EXPECT_EQ(batch.features[0][0].item<float>(), expected[0]);
  const at::Tensor labels = batch.labels[0];
  for (int64_t i = 0; i < labels.size(0); ++i)
    ASSERT_EQ(labels[i].item<int64_t>(), expected[static_cast<size_t>(i) + 1]) << i;
  EXPECT_EQ(dataset->tokenizer()->model, model);

  // Replacing it, the tokenizer's file included.
  EXPECT_NE(userErrorOf([&] { prep::prepare(options); }).find("pass --overwrite"),
            std::string::npos);
  options.overwrite = true;
  EXPECT_EQ(prep::prepare(options).count, static_cast<int64_t>(expected.size()));

  // A tokenizer goes with text, and its vocabulary is the class count.
  options.numClasses = 256;
  EXPECT_NE(userErrorOf([&] {
              prep::prepare(options);
            }).find("--num-classes: the tokenizer has a vocabulary of"),
            std::string::npos);
  options.numClasses = 0;
  std::ofstream(at("table.csv")) << "1,2\n";
  options.input = at("table.csv");
  options.format = prep::InputFormat::kAuto;
  EXPECT_NE(
      userErrorOf([&] { prep::prepare(options); }).find("--tokenizer goes with text input only"),
      std::string::npos);
}

}  // namespace
}  // namespace ringtrain::text
