// What a training data spec refers to, for a checkpoint's identity: the same data named another
// way (train.csv, ./train.csv, an absolute path, a link) is the same run, and a file replaced by
// another of a different size is not.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ringtrain::train {

// synthetic: and pipe: specs are their text. A file or directory is its resolved path and size
// (a directory's: the sum of the CSV or IDX files in it); a shard data set is its index's checksum,
// which covers every shard's size and checksum, wherever the directory lies. `hostSharded`: each
// host holds other files under the same name, so only the spec's text is comparable.
nlohmann::json dataIdentity(const std::string& spec, bool hostSharded);

// Whether a checkpoint's "train" entry `theirs` names the same data as `mine`. Checkpoints of
// earlier versions stored the spec's text, which is not comparable, and match.
bool sameData(const nlohmann::json& theirs, const nlohmann::json& mine);

}  // namespace ringtrain::train
