#include <fstream>

#include "Converters.h"
#include "InputFiles.h"
#include "data/ShardWriter.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::prep {

// Byte-level tokens: every byte of the text is one token id in [0, 256).
data::DatasetIndex fromText(const PrepOptions& options) {
  const std::vector<std::string> files = inputFiles(options.input, "");
  data::ShardLayout layout;
  layout.kind = data::ShardKind::kTokens;
  layout.elementType = data::ElementType::kUInt8;
  data::ShardWriter writer(options.output, layout, options.shardBytes, options.overwrite);
  ProgressThroughFiles progress(options, files);
  std::string chunk(size_t{4} << 20, '\0');
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream input(files[i], std::ios::binary);
    RINGTRAIN_USER_CHECK(input, "cannot read " << files[i]);
    progress.startFile(i);
    uint64_t read = 0;
    while (input) {
      input.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto got = static_cast<int64_t>(input.gcount());
      if (got > 0) writer.append(chunk.data(), nullptr, got);
      read += static_cast<uint64_t>(got);
      progress.at(read);
    }
    RINGTRAIN_USER_CHECK(!input.bad(), "cannot read " << files[i]);
  }
  progress.done();
  RINGTRAIN_USER_CHECK(options.numClasses == 0 || options.numClasses == 256,
                       "--num-classes: byte-level text has a vocabulary of 256");
  return writer.finish({options.input, "text", 256});
}

}  // namespace ringtrain::prep
