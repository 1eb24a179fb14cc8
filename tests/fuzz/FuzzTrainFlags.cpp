// The command line of `ringtrain train`: one argument per line.
#include <vector>

#include "FuzzInput.h"
#include "flags/TrainOptions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> arguments{"train"};
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      arguments.push_back(current);
      current.clear();
    } else if (data[i] != '\0') {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty()) arguments.push_back(current);
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  ringtrain::fuzz::expectParsedOrRejected([&] {
    ringtrain::train::parseTrainOptions(static_cast<int>(arguments.size()), argv.data());
  });
  return 0;
}
