// How text becomes token ids and ids become text again. A token data set (data/ShardFormat.h)
// and a language model's file (train/ModelFile.h) each carry the TokenizerRecord they were made
// with, so that `ringtrain generate` reads a prompt and writes a continuation in the model's own
// vocabulary. The byte tokenizer lives here; SentencePiece (SentencePiece.h) is linked into the
// executable only, so that programs built on libringtrain do not need its library.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ringtrain::text {

constexpr const char* kByteTokenizer = "byte";
constexpr const char* kSentencePieceTokenizer = "sentencepiece";
constexpr int64_t kByteVocabulary = 256;

// What rebuilds a tokenizer.
struct TokenizerRecord {
  std::string kind;   // kByteTokenizer or kSentencePieceTokenizer
  std::string model;  // sentencepiece: the serialized model (a .model file's bytes); byte: empty

  bool operator==(const TokenizerRecord& other) const {
    return kind == other.kind && model == other.model;
  }
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids lie in [0, vocabularySize()).
  virtual int64_t vocabularySize() const = 0;
  // Appends the ids of `text` to `ids`.
  virtual void encode(std::string_view text, std::vector<int64_t>& ids) const = 0;
  // UserError for an id outside the vocabulary.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual const TokenizerRecord& record() const = 0;
};

// Every byte is one id in [0, 256): lossless for any text, in any encoding.
std::unique_ptr<Tokenizer> byteTokenizer();

}  // namespace ringtrain::text
