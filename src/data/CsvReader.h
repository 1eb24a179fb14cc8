// Strict CSV parsing for numeric data sets: every row the same width, every cell a number, labels
// whole and non-negative. Errors name the file, line and column.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

// Streams data rows one at a time (for conversions that must not hold the data in memory). One
// parser reads several files as one table: they must agree on the number of columns.
class CsvRowParser {
 public:
  using RowHandler = std::function<void(const std::vector<float>& features, int64_t label)>;
  explicit CsvRowParser(const CsvOptions& options);
  // Calls onRow for every data row of `input`; `name` is used in error messages.
  void parse(std::istream& input, const std::string& name, const RowHandler& onRow);
  // "file.csv:14", the file and line of the row onRow was last called with.
  const std::string& place() const { return place_; }
  // Features per row; 0 until a row was read.
  size_t featureCount() const {
    return width_ == 0 ? 0 : width_ - (options_.labelColumn == kNoLabelColumn ? 0 : 1);
  }

 private:
  CsvOptions options_;
  size_t width_ = 0;  // columns per row, label included
  std::string widthSource_;
  std::string place_;
};

// `path` itself, or the *.csv files of the directory `path` in name order.
std::vector<std::string> csvFiles(const std::string& path);

// Parses one CSV stream; `name` is used in error messages. numClasses is max label + 1.
Dataset parseCsv(std::istream& input, const std::string& name, const CsvOptions& options);

// Reads a file, or every *.csv file of a directory in name order, into one dataset.
Dataset readCsv(const std::string& path, const CsvOptions& options);

}  // namespace ringtrain::data
