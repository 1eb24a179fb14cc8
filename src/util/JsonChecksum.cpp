#include "ringtrain/util/JsonChecksum.h"

#include "ringtrain/util/Crc32c.h"

namespace ringtrain {

uint32_t checksumWithout(nlohmann::json document, const std::string& field) {
  document.erase(field);
  return crc32c(document.dump());
}

}  // namespace ringtrain
