// Shared by the multi-rank tests: the job's CPU communicator, set up once by MpiTestMain.cpp.
#pragma once

#include "ringtrain/comm/Communicator.h"
#include "ringtrain/comm/Session.h"

namespace ringtrain::testing {

comm::Communicator& worldCommunicator();
comm::Session& session();

}  // namespace ringtrain::testing
