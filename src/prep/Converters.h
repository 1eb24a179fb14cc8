// One converter per input format; prepare() picks one.
#pragma once

#include "data/ShardFormat.h"
#include "prep/Prepare.h"

namespace ringtrain::prep {

data::DatasetIndex fromCsv(const PrepOptions& options);
data::DatasetIndex fromIdx(const PrepOptions& options);
data::DatasetIndex fromNpy(const PrepOptions& options);
data::DatasetIndex fromText(const PrepOptions& options);

// Reads exactly `bytes` bytes from `input` into `to`; UserError naming `name` if it ends early.
void readExactly(std::istream& input, char* to, size_t bytes, const std::string& name);

}  // namespace ringtrain::prep
