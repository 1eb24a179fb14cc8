#include "text/SentencePiece.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <unordered_map>

#include "ringtrain/util/Error.h"

namespace ringtrain::text {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::string model, const std::string& where)
      : record_{kSentencePieceTokenizer, std::move(model)} {
    const auto status = processor_.LoadFromSerializedProto(record_.model);
    RINGTRAIN_USER_CHECK(status.ok(),
                         where << " is not a SentencePiece model: " << status.ToString());
    vocabulary_ = processor_.GetPieceSize();
  }

  int64_t vocabularySize() const override { return vocabulary_; }

  void encode(std::string_view text, std::vector<int64_t>& ids) const override {
    std::vector<int> pieces;
    const auto status = processor_.Encode(text, &pieces);
    RINGTRAIN_USER_CHECK(status.ok(),
                         "SentencePiece cannot encode the text: " << status.ToString());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<int> pieces;
    pieces.reserve(ids.size());
    for (const int64_t id : ids) {
      RINGTRAIN_USER_CHECK(id >= 0 && id < vocabulary_, "token id "
                                                            << id
                                                            << " is outside the "
                                                               "SentencePiece vocabulary of "
                                                            << vocabulary_);
      pieces.push_back(static_cast<int>(id));
    }
    std::string text;
    const auto status = processor_.Decode(pieces, &text);
    RINGTRAIN_USER_CHECK(status.ok(), "SentencePiece cannot decode: " << status.ToString());
    return text;
  }

  const TokenizerRecord& record() const override { return record_; }

 private:
  TokenizerRecord record_;
  sentencepiece::SentencePieceProcessor processor_;
  int64_t vocabulary_ = 0;
};

// The lines of several files, one after the other (without their \n or \r\n), as the trainer
// reads its corpus. A file that cannot be read ends the lines with an error status, which the
// trainer returns: an exception must not cross the library.
class LinesOfFiles final : public sentencepiece::SentenceIterator {
 public:
  explicit LinesOfFiles(const std::vector<std::string>& files) : files_(files) { Next(); }

  bool done() const override { return done_; }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return status_; }

  void Next() override {
    while (!done_) {
      if (input_.is_open() && std::getline(input_, line_)) {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        return;
      }
      if (input_.is_open() && input_.bad()) return fail("cannot read " + files_[next_ - 1]);
      input_.close();
      if (next_ == files_.size()) {
        done_ = true;
        line_.clear();
        return;
      }
      input_.open(files_[next_++], std::ios::binary);
      if (!input_.is_open()) return fail("cannot read " + files_[next_ - 1]);
    }
  }

 private:
  void fail(const std::string& message) {
    status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound, message);
    done_ = true;
    line_.clear();
  }

  const std::vector<std::string>& files_;
  size_t next_ = 0;
  std::ifstream input_;
  std::string line_;
  bool done_ = false;
  sentencepiece::util::Status status_;
};

}  // namespace

std::unique_ptr<Tokenizer> sentencePieceTokenizer(std::string model, const std::string& where) {
  return std::make_unique<SentencePieceTokenizer>(std::move(model), where);
}

std::string trainSentencePiece(const std::vector<std::string>& files,
                               const SentencePieceTraining& options) {
  RINGTRAIN_USER_CHECK(options.vocabularySize >= kSmallestTrainedVocabulary,
                       "a SentencePiece vocabulary with byte fallback holds the 256 bytes, 3 "
                       "control pieces and a piece for each character of the text: give at least "
                           << kSmallestTrainedVocabulary << " pieces, not "
                           << options.vocabularySize);
  const std::unordered_map<std::string, std::string> settings{
      {"model_type", "unigram"},
      {"vocab_size", std::to_string(options.vocabularySize)},
      {"hard_vocab_limit", "false"},
      {"byte_fallback", "true"},
      {"input_sentence_size", std::to_string(options.maxSentences)},
      {"max_sentence_length", std::to_string(kMaxTrainedLineBytes)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(std::max(1, options.threads))},
      {"minloglevel", "1"},
  };
  LinesOfFiles lines(files);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(settings, &lines, &model);
  RINGTRAIN_USER_CHECK(status.ok(), "training a SentencePiece tokenizer of "
                                        << options.vocabularySize
                                        << " pieces failed: " << status.ToString());
  return model;
}

std::unique_ptr<Tokenizer> tokenizerOf(const TokenizerRecord& record, const std::string& where) {
  if (record.kind == kByteTokenizer) return byteTokenizer();
  RINGTRAIN_USER_CHECK(record.kind == kSentencePieceTokenizer,
                       where << ": tokenizer '" << record.kind
                             << "' is not one this ringtrain knows (byte, sentencepiece)");
  return sentencePieceTokenizer(record.model, where);
}

}  // namespace ringtrain::text
