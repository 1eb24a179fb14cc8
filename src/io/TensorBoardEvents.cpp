#include "io/TensorBoardEvents.h"

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"
#include "util/Files.h"

namespace ringtrain::io {
namespace {

double secondsSinceEpoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// Protobuf's wire format, as far as these messages need it.
void appendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void appendLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int index = 0; index < bytes; ++index) {
    out.push_back(static_cast<char>((value >> (8 * index)) & 0xff));
  }
}

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void appendKey(std::string& out, uint32_t field, WireType type) {
  appendVarint(out, (field << 3) | type);
}

void appendBytes(std::string& out, uint32_t field, const std::string& bytes) {
  appendKey(out, field, kLengthDelimited);
  appendVarint(out, bytes.size());
  out += bytes;
}

// An Event's wall_time (1) and step (2).
std::string eventHead(double wallTime, int64_t step) {
  std::string event;
  appendKey(event, 1, kFixed64);
  uint64_t bits = 0;
  std::memcpy(&bits, &wallTime, sizeof(bits));
  appendLittleEndian(event, bits, 8);
  if (step != 0) {
    appendKey(event, 2, kVarint);
    appendVarint(event, static_cast<uint64_t>(step));
  }
  return event;
}

}  // namespace

std::string scalarsEvent(double wallTime, int64_t step,
                         const std::vector<std::pair<std::string, double>>& values) {
  std::string summary;
  for (const auto& [tag, value] : values) {
    std::string entry;
    appendBytes(entry, 1, tag);
    appendKey(entry, 2, kFixed32);
    const auto single = static_cast<float>(value);
    uint32_t bits = 0;
    std::memcpy(&bits, &single, sizeof(bits));
    appendLittleEndian(entry, bits, 4);
    appendBytes(summary, 1, entry);
  }
  std::string event = eventHead(wallTime, step);
  appendBytes(event, 5, summary);
  return event;
}

std::string fileVersionEvent(double wallTime, const std::string& version) {
  std::string event = eventHead(wallTime, 0);
  appendBytes(event, 3, version);
  return event;
}

std::string sessionStartEvent(double wallTime, int64_t step) {
  std::string sessionLog;
  appendKey(sessionLog, 1, kVarint);
  appendVarint(sessionLog, 1);  // START
  std::string event = eventHead(wallTime, step);
  appendBytes(event, 7, sessionLog);
  return event;
}

uint32_t maskedCrc32c(std::string_view bytes) {
  const uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfRecord(std::string_view data) {
  std::string record;
  appendLittleEndian(record, data.size(), 8);
  appendLittleEndian(record, maskedCrc32c(std::string_view(record.data(), 8)), 4);
  record.append(data);
  appendLittleEndian(record, maskedCrc32c(data), 4);
  return record;
}

TensorBoardEvents::TensorBoardEvents(const std::string& directory, int64_t firstStep) {
  try {
    makeDirectories(directory);
  } catch (const std::exception& error) {
    throw UserError("--tensorboard: cannot create " + directory + ": " + error.what());
  }
  path_ = directory + "/events.out.tfevents." +
          std::to_string(static_cast<int64_t>(secondsSinceEpoch())) + "." + hostName() + "." +
          std::to_string(::getpid()) + ".ringtrain";
  file_.open(path_, std::ios::binary | std::ios::out | std::ios::trunc);
  RINGTRAIN_USER_CHECK(file_, "--tensorboard: cannot write " << path_);
  write(fileVersionEvent(secondsSinceEpoch(), "brain.Event:2"));
  write(sessionStartEvent(secondsSinceEpoch(), firstStep));
}

void TensorBoardEvents::addScalars(int64_t step,
                                   const std::vector<std::pair<std::string, double>>& values) {
  if (values.empty()) return;
  write(scalarsEvent(secondsSinceEpoch(), step, values));
}

void TensorBoardEvents::write(const std::string& event) {
  file_ << tfRecord(event);
  file_.flush();
  RINGTRAIN_USER_CHECK(file_, "--tensorboard: cannot write " << path_);
}

}  // namespace ringtrain::io
