// How a command that runs on every rank ends when something throws.
#pragma once

#include <exception>
#include <string>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/comm/Session.h"

namespace ringtrain::cli {

// Every rank got the failure together; the reporting rank says why. Returns the exit status.
int reportCollectiveFailure(const std::string& command, const comm::Topology& topology,
                            const comm::CollectiveFailure& failure);

// Only this rank failed while the others may be waiting in a collective: says why and ends the
// whole job.
[[noreturn]] void abortAfterRankFailure(const std::string& command, const comm::Session& session,
                                        const std::exception& error);

}  // namespace ringtrain::cli
