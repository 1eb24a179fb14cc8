// Strict CSV parsing for numeric data sets: every row the same width, every cell a number, labels
// whole and non-negative. Errors name the file, line and column.
#pragma once

#include <istream>
#include <string>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

// Parses one CSV stream; `name` is used in error messages. numClasses is max label + 1.
Dataset parseCsv(std::istream& input, const std::string& name, const CsvOptions& options);

// Reads a file, or every *.csv file of a directory in name order, into one dataset.
Dataset readCsv(const std::string& path, const CsvOptions& options);

}  // namespace ringtrain::data
