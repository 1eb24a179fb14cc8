#include "ContinuationWriter.h"

#include <string_view>

namespace ringtrain::cli {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// `text` without replacement characters at its end.
std::string settled(std::string text) {
  while (text.size() >= kReplacementCharacter.size() &&
         std::string_view(text).substr(text.size() - kReplacementCharacter.size()) ==
             kReplacementCharacter) {
    text.resize(text.size() - kReplacementCharacter.size());
  }
  return text;
}

}  // namespace

std::string continuationOf(const text::Tokenizer& tokenizer, const std::vector<int64_t>& prompt,
                           const std::vector<int64_t>& generated) {
  const std::string before = tokenizer.decode(prompt);
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string after = tokenizer.decode(all);
  if (after.compare(0, before.size(), before) == 0) return after.substr(before.size());
  return tokenizer.decode(generated);
}

void ContinuationWriter::update(const std::string& continuation) {
  last_ = continuation;
  print(settled(continuation));
}

void ContinuationWriter::finish() {
  print(last_);
}

void ContinuationWriter::print(const std::string& text) {
  // Text already printed stays; a continuation that rewrites it (it should not) is not printed.
  if (text.size() <= printed_.size() || text.compare(0, printed_.size(), printed_) != 0) return;
  out_ << text.substr(printed_.size()) << std::flush;
  printed_ = text;
}

}  // namespace ringtrain::cli
