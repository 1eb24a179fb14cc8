// `ringtrain prep`: converts CSV, MNIST IDX, NumPy .npy and plain text into a data set in the
// shard format (data/ShardFormat.h). Every converter streams: it holds one chunk of the input and
// one shard's labels at a time, whatever the size of the input.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/ShardFormat.h"
#include "ringtrain/data/Dataset.h"
#include "text/Tokenizer.h"

namespace ringtrain::prep {

enum class InputFormat { kAuto, kCsv, kIdx, kNpy, kText };

struct PrepOptions {
  std::string input;   // a file, or a directory (IDX files; *.csv, *.txt files in name order)
  std::string output;  // the data set directory to create
  InputFormat format = InputFormat::kAuto;
  std::string labels;  // .npy input: a 1-D integer .npy of labels (none: every label is 0)
  data::Split idxSplit = data::Split::kTrain;  // IDX input: train-* or t10k-* files
  data::CsvOptions csv;
  int64_t numClasses = 0;  // 0: largest label + 1
  int64_t shardBytes = int64_t{256} << 20;
  bool overwrite = false;  // replace an existing data set at `output`
  // Text: makes the tokenizer from the files about to be read (loading a model, or training one on
  // them); none: every byte is a token. With a tokenizer, each line is encoded on its own.
  std::function<std::unique_ptr<text::Tokenizer>(const std::vector<std::string>& files)> tokenizer;
  // Called now and then with the input bytes read so far and in all.
  std::function<void(int64_t done, int64_t total)> progress;
};

// The format `--format auto` picks for `input`; UserError if it cannot tell.
InputFormat detectFormat(const std::string& input);

// Writes the data set and returns its index. UserError naming the input file (and line) on bad
// input; nothing is left at `output` then.
data::DatasetIndex prepare(const PrepOptions& options);

}  // namespace ringtrain::prep
