#include "prep/Prepare.h"

#include <istream>

#include "Converters.h"
#include "data/IdxReader.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::prep {
void readExactly(std::istream& input, char* to, size_t bytes, const std::string& name) {
  input.read(to, static_cast<std::streamsize>(bytes));
  RINGTRAIN_USER_CHECK(static_cast<size_t>(input.gcount()) == bytes,
                       "cannot read " << name << ": it ended early (truncated?)");
}

InputFormat detectFormat(const std::string& input) {
  RINGTRAIN_USER_CHECK(pathExists(input), "cannot read " << input << ": no such file or directory");
  if (isDirectory(input)) {
    const auto [trainImages, trainLabels] = data::idxFilesOf(input, data::Split::kTrain);
    const auto [testImages, testLabels] = data::idxFilesOf(input, data::Split::kValidation);
    if (pathExists(trainImages) || pathExists(testImages)) return InputFormat::kIdx;
    for (const std::string& name : listDirectory(input)) {
      if (hasSuffix(name, ".csv")) return InputFormat::kCsv;
      if (hasSuffix(name, ".txt")) return InputFormat::kText;
    }
  } else {
    if (hasSuffix(input, ".csv")) return InputFormat::kCsv;
    if (hasSuffix(input, ".npy")) return InputFormat::kNpy;
    if (hasSuffix(input, ".txt")) return InputFormat::kText;
  }
  throw UserError("cannot tell the format of " + input + "; pass --format csv|idx|npy|text");
}

data::DatasetIndex prepare(const PrepOptions& options) {
  RINGTRAIN_USER_CHECK(!options.output.empty(), "--output-dir is required");
  RINGTRAIN_USER_CHECK(options.shardBytes >= 4096, "--shard-size must be at least 4K");
  RINGTRAIN_USER_CHECK(options.numClasses >= 0, "--num-classes must not be negative");
  const InputFormat format =
      options.format == InputFormat::kAuto ? detectFormat(options.input) : options.format;
  RINGTRAIN_USER_CHECK(options.labels.empty() || format == InputFormat::kNpy,
                       "--labels goes with .npy input only");
  RINGTRAIN_USER_CHECK(!options.tokenizer || format == InputFormat::kText,
                       "--tokenizer goes with text input only");
  switch (format) {
    case InputFormat::kCsv:
      return fromCsv(options);
    case InputFormat::kIdx:
      return fromIdx(options);
    case InputFormat::kNpy:
      return fromNpy(options);
    case InputFormat::kText:
    case InputFormat::kAuto:
      break;
  }
  return fromText(options);
}

}  // namespace ringtrain::prep
