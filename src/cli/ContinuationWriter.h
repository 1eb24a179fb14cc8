// How `ringtrain generate` turns the ids it draws into text as they come: the continuation is
// decoded together with the prompt (pieces that begin a word read differently at the start of a
// text), and printed only as far as the next ids cannot change it.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "text/Tokenizer.h"

namespace ringtrain::cli {

// The text `generated` adds to `prompt`.
std::string continuationOf(const text::Tokenizer& tokenizer, const std::vector<int64_t>& prompt,
                           const std::vector<int64_t>& generated);

class ContinuationWriter {
 public:
  explicit ContinuationWriter(std::ostream& out) : out_(out) {}

  // `continuation`: all the text generated so far. Prints what it adds to what is printed, but
  // not the replacement characters (U+FFFD) at its end: a tokenizer decodes the first bytes of a
  // character whose other bytes are yet to come (SentencePiece's byte pieces) to those.
  void update(const std::string& continuation);
  // Prints the rest of the last continuation, replacement characters included.
  void finish();

 private:
  void print(const std::string& text);

  std::ostream& out_;
  std::string last_;
  std::string printed_;
};

}  // namespace ringtrain::cli
