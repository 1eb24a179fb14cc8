#include "health/Liveness.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <sstream>

namespace ringtrain::health {
namespace {

// "rtHB" and the version of the layout below.
constexpr uint32_t kMagic = 0x42487472;
constexpr uint8_t kVersion = 2;

// Offsets in the message; integers in this machine's byte order (all ranks of a job share it).
constexpr size_t kMagicAt = 0, kVersionAt = 4, kKindAt = 5, kPhaseAt = 6, kWaitingAt = 7,
                 kRankAt = 8, kPidAt = 12, kStepAt = 16, kHostAt = 24, kCommunicatorAt = 88,
                 kSequenceAt = 96, kLabelIndexAt = 104, kBytesAt = 112, kOperationAt = 120,
                 kLabelKindAt = 120 + kNameBytes;
static_assert(kLabelKindAt + kNameBytes <= kBeatBytes);

void putText(BeatBytes& bytes, size_t at, const std::string& text, size_t room) {
  text.copy(bytes.data() + at, room - 1);
}

std::string getText(const BeatBytes& bytes, size_t at, size_t room) {
  const char* text = bytes.data() + at;
  return std::string(text, strnlen(text, room - 1));
}

template <typename T>
void put(BeatBytes& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

template <typename T>
T get(const BeatBytes& bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

}  // namespace

BeatBytes encodeBeat(const Beat& beat) {
  BeatBytes bytes{};
  put(bytes, kMagicAt, kMagic);
  put(bytes, kVersionAt, kVersion);
  put(bytes, kKindAt, static_cast<uint8_t>(beat.kind));
  put(bytes, kPhaseAt, static_cast<uint8_t>(beat.progress.phase));
  put(bytes, kRankAt, static_cast<int32_t>(beat.rank));
  put(bytes, kPidAt, static_cast<int32_t>(beat.pid));
  put(bytes, kStepAt, static_cast<int64_t>(beat.progress.step));
  putText(bytes, kHostAt, beat.host, kHostBytes);
  if (beat.waiting) {
    const WaitingCall& call = *beat.waiting;
    put(bytes, kWaitingAt, uint8_t{1});
    put(bytes, kCommunicatorAt, static_cast<int64_t>(call.communicator));
    put(bytes, kSequenceAt, static_cast<int64_t>(call.sequence));
    put(bytes, kLabelIndexAt, static_cast<int64_t>(call.labelIndex));
    put(bytes, kBytesAt, static_cast<int64_t>(call.bytes));
    putText(bytes, kOperationAt, call.operation, kNameBytes);
    putText(bytes, kLabelKindAt, call.labelKind, kNameBytes);
  }
  return bytes;
}

std::optional<Beat> decodeBeat(const BeatBytes& bytes) {
  if (get<uint32_t>(bytes, kMagicAt) != kMagic || get<uint8_t>(bytes, kVersionAt) != kVersion) {
    return std::nullopt;
  }
  const auto kind = get<uint8_t>(bytes, kKindAt);
  if (kind < static_cast<uint8_t>(BeatKind::kHello) ||
      kind > static_cast<uint8_t>(BeatKind::kVerdict)) {
    return std::nullopt;
  }
  Beat beat;
  beat.kind = static_cast<BeatKind>(kind);
  beat.progress.phase = static_cast<Phase>(get<uint8_t>(bytes, kPhaseAt));
  beat.rank = get<int32_t>(bytes, kRankAt);
  beat.pid = get<int32_t>(bytes, kPidAt);
  beat.progress.step = get<int64_t>(bytes, kStepAt);
  beat.host = getText(bytes, kHostAt, kHostBytes);
  if (get<uint8_t>(bytes, kWaitingAt) != 0) {
    beat.waiting = WaitingCall{
        get<int64_t>(bytes, kCommunicatorAt),     get<int64_t>(bytes, kSequenceAt),
        getText(bytes, kOperationAt, kNameBytes), getText(bytes, kLabelKindAt, kNameBytes),
        get<int64_t>(bytes, kLabelIndexAt),       get<int64_t>(bytes, kBytesAt)};
  }
  return beat;
}

Liveness::Liveness(const std::vector<int>& ranks, LivenessClock::time_point now) {
  for (const int rank : ranks) {
    Peer& peer = peers_[rank];
    peer.last.rank = rank;
    peer.heardAt = now;
  }
}

void Liveness::heard(const Beat& beat, LivenessClock::time_point now) {
  const auto found = peers_.find(beat.rank);
  if (found == peers_.end()) return;
  found->second.last = beat;
  found->second.heardAt = now;
}

void Liveness::leftNormally(int rank) {
  const auto found = peers_.find(rank);
  if (found != peers_.end()) found->second.left = true;
}

void Liveness::closed(int rank, LivenessClock::time_point now) {
  const auto found = peers_.find(rank);
  if (found != peers_.end() && !found->second.closedAt) found->second.closedAt = now;
}

void Liveness::postpone(LivenessClock::duration pause) {
  for (auto& [rank, peer] : peers_) {
    peer.heardAt += pause;
    if (peer.closedAt) *peer.closedAt += pause;
  }
}

std::vector<LostRank> Liveness::lost(LivenessClock::time_point now, LivenessClock::duration timeout,
                                     LivenessClock::duration grace) const {
  std::vector<LostRank> lost;
  for (const auto& [rank, peer] : peers_) {
    if (peer.left) continue;
    const double silent = std::chrono::duration<double>(now - peer.heardAt).count();
    if (peer.closedAt && now - *peer.closedAt >= grace) {
      lost.push_back({peer.last, true, silent});
    } else if (now - peer.heardAt >= timeout) {
      lost.push_back({peer.last, false, silent});
    }
  }
  // Ranks that went silent together (a host gone) fall past the timeout up to a beat apart:
  // once one is lost, those silent for half the timeout go with it.
  if (!lost.empty()) {
    for (const auto& [rank, peer] : peers_) {
      const bool counted = std::any_of(lost.begin(), lost.end(), [rank = rank](const LostRank& l) {
        return l.last.rank == rank;
      });
      if (!peer.left && !peer.closedAt && !counted && now - peer.heardAt >= timeout / 2) {
        lost.push_back(
            {peer.last, false, std::chrono::duration<double>(now - peer.heardAt).count()});
      }
    }
    std::sort(lost.begin(), lost.end(),
              [](const LostRank& a, const LostRank& b) { return a.last.rank < b.last.rank; });
  }
  return lost;
}

std::vector<std::pair<Beat, double>> Liveness::lastBeats(LivenessClock::time_point now) const {
  std::vector<std::pair<Beat, double>> beats;
  for (const auto& [rank, peer] : peers_) {
    if (!peer.left) {
      beats.emplace_back(peer.last, std::chrono::duration<double>(now - peer.heardAt).count());
    }
  }
  return beats;
}

std::string describeLost(const std::vector<LostRank>& lost) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(1);
  for (const LostRank& rank : lost) {
    const Beat& last = rank.last;
    text << "rank " << last.rank << " (host " << (last.host.empty() ? "?" : last.host) << ", pid "
         << last.pid << ") ";
    if (rank.exited) {
      text << "exited before the end (killed, crashed, or ended by an error of its own)";
    } else {
      text << "stopped answering heartbeats " << rank.silentSeconds
           << " s ago (frozen, or its host is gone)";
    }
    text << "; it last reported ";
    if (last.progress.phase == Phase::kStarting) {
      text << "starting";
    } else {
      text << "step " << last.progress.step << ", " << phaseName(last.progress.phase);
    }
    text << "\n";
  }
  return text.str();
}

}  // namespace ringtrain::health
