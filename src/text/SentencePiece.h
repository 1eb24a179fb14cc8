// SentencePiece tokenizers through the library Debian packages (libsentencepiece-dev): a trained
// model read from its serialized form, and training one on a corpus. Linked into the executable
// (and the tests) only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "text/Tokenizer.h"

namespace ringtrain::text {

// `model`: a serialized SentencePiece model, the bytes of a .model file. UserError naming `where`
// when it is not one.
std::unique_ptr<Tokenizer> sentencePieceTokenizer(std::string model, const std::string& where);

struct SentencePieceTraining {
  int64_t vocabularySize = 8000;   // a soft limit: a small corpus may give fewer pieces
  int64_t maxSentences = 2000000;  // lines drawn at random from a larger corpus
  int threads = 1;
};

// The 256 byte pieces, <unk>, <s>, </s>, the word boundary and one more piece of the text.
constexpr int64_t kSmallestTrainedVocabulary = 261;
// Longer lines are left out of training (the library's own limit is 4,192); all are encoded.
constexpr int64_t kMaxTrainedLineBytes = 65536;

// Trains a unigram model, with byte fallback (characters it did not keep become their UTF-8
// bytes, so that any text can be encoded), on the lines of `files`, and returns it serialized.
// UserError when the library refuses the corpus or the vocabulary size (which must also hold a
// piece for every character the text uses).
std::string trainSentencePiece(const std::vector<std::string>& files,
                               const SentencePieceTraining& options);

// The tokenizer `record` describes. UserError naming `where` for an unknown kind or a bad model.
std::unique_ptr<Tokenizer> tokenizerOf(const TokenizerRecord& record, const std::string& where);

}  // namespace ringtrain::text
