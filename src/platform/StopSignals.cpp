#include "platform/StopSignals.h"

#include <csignal>
#include <initializer_list>

namespace ringtrain::platform {
namespace {

volatile std::sig_atomic_t received = 0;

void onStopSignal(int signal) {
  if (received != 0) {
    // Asked twice: stop now, the way the signal would without us.
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  received = signal;
}

}  // namespace

void installStopSignals() {
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // system calls in progress carry on
  for (const int signal : {SIGTERM, SIGINT, SIGUSR1}) sigaction(signal, &action, nullptr);
  // Past a file-size limit a write then fails with EFBIG, which the writer reports by file name
  // (and a checkpoint is skipped with a warning), instead of the kernel killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
}

int stopSignalReceived() {
  return received;
}

const char* signalName(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "a signal";
  }
}

}  // namespace ringtrain::platform
