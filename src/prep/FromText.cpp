#include <fstream>
#include <limits>

#include "Converters.h"
#include "InputFiles.h"
#include "data/ShardWriter.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::prep {
namespace {

// The narrowest integer type that holds every id of the vocabulary.
data::ElementType tokenTypeFor(int64_t vocabulary) {
  if (vocabulary <= 256) return data::ElementType::kUInt8;
  if (vocabulary <= 65536) return data::ElementType::kUInt16;
  return data::ElementType::kInt32;
}

// Appends `ids` to `writer` stored as `type`, and empties it.
void appendIds(data::ShardWriter& writer, data::ElementType type, std::vector<int64_t>& ids) {
  const auto store = [&](auto zero) {
    std::vector<decltype(zero)> stored(ids.begin(), ids.end());
    writer.append(stored.data(), nullptr, static_cast<int64_t>(stored.size()));
  };
  if (type == data::ElementType::kUInt8) store(uint8_t{0});
  if (type == data::ElementType::kUInt16) store(uint16_t{0});
  if (type == data::ElementType::kInt32) store(int32_t{0});
  ids.clear();
}

// Every byte of the text is one token id in [0, 256).
void writeBytes(std::ifstream& input, data::ShardWriter& writer, ProgressThroughFiles& progress) {
  std::string chunk(size_t{4} << 20, '\0');
  uint64_t read = 0;
  while (input) {
    input.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<int64_t>(input.gcount());
    if (got > 0) writer.append(chunk.data(), nullptr, got);
    read += static_cast<uint64_t>(got);
    progress.at(read);
  }
}

// Line by line, as spm_encode does: line breaks (\n or \r\n) are not tokens.
void writeLines(std::ifstream& input, const text::Tokenizer& tokenizer, data::ElementType type,
                data::ShardWriter& writer, ProgressThroughFiles& progress) {
  constexpr size_t kIdsPerAppend = size_t{1} << 20;
  std::string line;
  std::vector<int64_t> ids;
  uint64_t read = 0;
  while (std::getline(input, line)) {
    const size_t bytes = line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokenizer.encode(line, ids);
    if (ids.size() >= kIdsPerAppend) appendIds(writer, type, ids);
    read += bytes;
    progress.at(read);
  }
  if (!ids.empty()) appendIds(writer, type, ids);
}

}  // namespace

data::DatasetIndex fromText(const PrepOptions& options) {
  const std::vector<std::string> files = inputFiles(options.input, "");
  // Before a tokenizer is trained, which may take a while.
  data::checkReplaceable(options.output, options.overwrite);
  const std::unique_ptr<text::Tokenizer> tokenizer =
      options.tokenizer ? options.tokenizer(files) : text::byteTokenizer();
  const bool bytes = tokenizer->record().kind == text::kByteTokenizer;
  const int64_t vocabulary = tokenizer->vocabularySize();
  RINGTRAIN_USER_CHECK(options.numClasses == 0 || options.numClasses == vocabulary,
                       "--num-classes: the tokenizer has a vocabulary of " << vocabulary);
  RINGTRAIN_CHECK(vocabulary >= 1 && vocabulary <= std::numeric_limits<int32_t>::max(),
                  "a vocabulary of " << vocabulary);
  data::ShardLayout layout;
  layout.kind = data::ShardKind::kTokens;
  layout.elementType = tokenTypeFor(vocabulary);
  data::ShardWriter writer(options.output, layout, options.shardBytes, options.overwrite);
  ProgressThroughFiles progress(options, files);
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream input(files[i], std::ios::binary);
    RINGTRAIN_USER_CHECK(input, "cannot read " << files[i]);
    progress.startFile(i);
    if (bytes) {
      writeBytes(input, writer, progress);
    } else {
      writeLines(input, *tokenizer, layout.elementType, writer, progress);
    }
    RINGTRAIN_USER_CHECK(!input.bad(), "cannot read " << files[i]);
  }
  progress.done();
  return writer.finish({options.input, "text", vocabulary, tokenizer->record()});
}

}  // namespace ringtrain::prep
