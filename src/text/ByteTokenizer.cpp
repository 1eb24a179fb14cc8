#include "ringtrain/util/Error.h"
#include "text/Tokenizer.h"

namespace ringtrain::text {
namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  int64_t vocabularySize() const override { return kByteVocabulary; }

  void encode(std::string_view text, std::vector<int64_t>& ids) const override {
    for (const char byte : text) ids.push_back(static_cast<unsigned char>(byte));
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string text;
    text.reserve(ids.size());
    for (const int64_t id : ids) {
      RINGTRAIN_USER_CHECK(id >= 0 && id < kByteVocabulary,
                           "token id " << id << " is not a byte (0..255)");
      text.push_back(static_cast<char>(id));
    }
    return text;
  }

  const TokenizerRecord& record() const override { return record_; }

 private:
  TokenizerRecord record_{kByteTokenizer, ""};
};

}  // namespace

std::unique_ptr<Tokenizer> byteTokenizer() {
  return std::make_unique<ByteTokenizer>();
}

}  // namespace ringtrain::text
