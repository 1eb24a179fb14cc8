// How a program that runs on every rank ends when something throws, or waits too long: the
// commands and the library's Runtime. `program` begins every message ("ringtrain train").
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "comm/Session.h"
#include "health/Heartbeats.h"
#include "ringtrain/comm/Agreement.h"

namespace ringtrain::launch {

// Every rank got the failure together; the reporting rank says why. Returns the exit status: 1
// is reported as an internal error, other statuses (2 bad input, 3 diverged) as the user's.
int reportCollectiveFailure(const std::string& program, const comm::Topology& topology,
                            const comm::CollectiveFailure& failure);

// Only this rank failed while the others may be waiting in a collective: says why and ends the
// whole job.
[[noreturn]] void abortAfterRankFailure(const std::string& program, const comm::Session& session,
                                        const std::exception& error);

// From now on, a communication call of `session` that waits longer than `seconds` (0: never)
// ends the job, with a report from the rank that noticed (abortAfterCommTimeout).
// With `heartbeats` (or null), the report comes from a hub first, with a verdict naming the rank
// that stopped.
void watchCommunication(comm::Session& session, const std::string& program, double seconds,
                        const std::shared_ptr<health::Heartbeats>& heartbeats);

// Collective: heartbeats among the ranks from now on, ending the job with a report when one is
// lost (abortAfterLostRanks), unless `seconds` is 0. Rank 0 warns when they cannot connect.
std::shared_ptr<health::Heartbeats> watchLiveness(comm::Communicator& control,
                                                  const std::string& program, double seconds);

// Heartbeats found ranks `lost`, or rank 0 said the job ends (`lost` empty): says so, unless the
// launcher is already ending the job, and ends the process.
[[noreturn]] void abortAfterLostRanks(const std::string& program, const comm::Topology& topology,
                                      const std::vector<health::LostRank>& lost,
                                      double timeoutSeconds);

// How long this rank's watchdog gives an expired wait before reporting: every rank waiting on the
// same missing peer times out together, and the lowest one should be the one that reports.
std::chrono::milliseconds commTimeoutHoldBack(const comm::Topology& topology);

// The watchdog found a communication call of this rank waiting longer than `timeout`: writes the
// flight record, says so (on a hub, with a verdict from what every rank last said), unless the
// launcher is already ending the job, tells the others to end, and ends the process.
[[noreturn]] void abortAfterCommTimeout(const std::string& program, const comm::Topology& topology,
                                        const comm::OpenWaits::Expired& expired,
                                        std::chrono::milliseconds timeout,
                                        health::Heartbeats* heartbeats);

}  // namespace ringtrain::launch
