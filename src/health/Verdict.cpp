#include "health/Verdict.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

namespace ringtrain::health {
namespace {

std::string whereIn(const ProgressMark& progress) {
  if (progress.phase == Phase::kStarting || progress.step == 0) {
    return std::string(phaseName(progress.phase));
  }
  return std::string(phaseName(progress.phase)) + " of step " + std::to_string(progress.step);
}

// Silent longer than this, a rank that last said it was working or waiting is frozen.
constexpr double kSilentSeconds = 3;

std::string who(const RankState& rank) {
  std::ostringstream text;
  text << "rank " << rank.rank;
  if (!rank.host.empty()) text << " (host " << rank.host << ", pid " << rank.pid << ")";
  return text.str();
}

std::string silence(const RankState& rank) {
  if (rank.silentSeconds < kSilentSeconds) return "";
  std::ostringstream text;
  text.precision(1);
  text << std::fixed << ", silent for " << rank.silentSeconds << " s (frozen?)";
  return text.str();
}

}  // namespace

std::string describeLabel(const WaitingCall& call) {
  if (call.labelKind.empty() || call.labelIndex < 0) return call.labelKind;
  return call.labelKind + " " + std::to_string(call.labelIndex);
}

std::string describeCall(const WaitingCall& call) {
  std::ostringstream text;
  text << call.operation;
  if (call.sequence > 0) text << " #" << call.sequence;
  if (!call.labelKind.empty()) text << " (" << describeLabel(call) << ")";
  return text.str();
}

std::string describeRanks(const std::vector<int>& ranks) {
  std::vector<std::string> runs;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (j >= i + 2) {
      runs.push_back(std::to_string(ranks[i]) + "-" + std::to_string(ranks[j]));
    } else {
      for (size_t k = i; k <= j; ++k) runs.push_back(std::to_string(ranks[k]));
    }
    i = j + 1;
  }
  std::string text = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t r = 0; r < runs.size(); ++r) {
    if (r > 0) text += r + 1 == runs.size() ? " and " : ", ";
    text += runs[r];
  }
  return text;
}

std::string verdictOf(const std::vector<RankState>& ranks) {
  // The ranks waiting, by the call they wait in (the same collective has the same communicator,
  // sequence number and operation on every rank).
  using CallKey = std::tuple<int64_t, int64_t, std::string>;
  std::map<CallKey, std::vector<const RankState*>> waiting;
  std::vector<const RankState*> working;
  std::vector<int> unknown;
  for (const RankState& rank : ranks) {
    if (!rank.known) {
      unknown.push_back(rank.rank);
    } else if (rank.waiting) {
      waiting[{rank.waiting->communicator, rank.waiting->sequence, rank.waiting->operation}]
          .push_back(&rank);
    } else {
      working.push_back(&rank);
    }
  }
  std::vector<std::string> parts;
  // A rank that ended by an error of its own is the first thing to say.
  for (const RankState& rank : ranks) {
    if (rank.known && !rank.failure.empty()) {
      parts.push_back(who(rank) + " failed in " + whereIn(rank.progress) + ": " + rank.failure);
    }
  }
  if (!unknown.empty()) {
    parts.push_back(describeRanks(unknown) + " left nothing (gone, frozen, or ended before " +
                    (unknown.size() == 1 ? "it" : "they") + " could write)");
  }
  for (const RankState* rank : working) {
    if (!rank->failure.empty()) continue;
    parts.push_back(who(*rank) + " stopped in " + whereIn(rank->progress) +
                    (waiting.empty() ? "" : ", outside any communication call") + silence(*rank));
  }
  // A rank silent while the others talk is the one to look at first, whatever it last said.
  for (auto& [key, group] : waiting) {
    for (auto it = group.begin(); it != group.end();) {
      if ((*it)->silentSeconds < kSilentSeconds) {
        ++it;
        continue;
      }
      parts.push_back(who(**it) + " last said it waits in " + describeCall(*(*it)->waiting) +
                      silence(**it));
      it = group.erase(it);
    }
  }
  // The groups in the order of their lowest rank.
  std::vector<std::vector<const RankState*>> groups;
  for (const auto& [key, group] : waiting) {
    if (!group.empty()) groups.push_back(group);
  }
  // Of ranks waiting on one communicator, those in an earlier call are behind the others.
  struct Group {
    std::vector<int> ranks;
    const RankState* first;
    bool behind;
  };
  std::vector<Group> ordered;
  for (const auto& group : groups) {
    const WaitingCall& call = *group.front()->waiting;
    // Point-to-point calls (number 0) are not numbered alike across ranks.
    const bool behind = std::any_of(groups.begin(), groups.end(), [&call](const auto& other) {
      const WaitingCall& theirs = *other.front()->waiting;
      return call.sequence > 0 && theirs.communicator == call.communicator &&
             theirs.sequence > call.sequence;
    });
    std::vector<int> numbers;
    for (const RankState* rank : group) numbers.push_back(rank->rank);
    ordered.push_back({numbers, group.front(), behind});
  }
  // Those behind first, then by their lowest rank.
  std::sort(ordered.begin(), ordered.end(), [](const Group& a, const Group& b) {
    return a.behind != b.behind ? a.behind : a.ranks.front() < b.ranks.front();
  });
  for (const Group& group : ordered) {
    parts.push_back(describeRanks(group.ranks) + (group.ranks.size() == 1 ? " waits" : " wait") +
                    " in " + describeCall(*group.first->waiting) + " of step " +
                    std::to_string(group.first->progress.step) +
                    (group.behind ? ", behind the others" : ""));
  }
  if (parts.size() == 1 && groups.size() == 1) {
    parts.back() += ": every rank is in it, so the network or the backend failed";
  } else if (parts.size() == groups.size() && groups.size() > 1) {
    parts.insert(parts.begin(), "the ranks wait in different calls");
  }
  std::string verdict;
  for (size_t p = 0; p < parts.size(); ++p) verdict += (p ? "; " : "") + parts[p];
  return verdict;
}

}  // namespace ringtrain::health
