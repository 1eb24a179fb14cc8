#include "health/Heartbeats.h"

#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "health/FlightRecord.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::health {
namespace {

using Clock = LivenessClock;
using std::chrono::milliseconds;

// How long ranks have to connect at start, and how long a closed connection stays unexplained
// before its rank counts as lost (a launcher that saw its process die may end the job first).
constexpr auto kConnectWithin = std::chrono::seconds(10);
constexpr auto kAcceptWithin = std::chrono::seconds(15);
constexpr auto kClosedGrace = std::chrono::milliseconds(500);
// A poll that returns this much later than asked (at most; a quarter of the timeout when that is
// less) was this process's own pause (SIGSTOP, a starved thread, a suspended machine), not its
// peers' silence.
constexpr auto kOwnPause = std::chrono::milliseconds(2000);
// How often the loop looks at the deadlines between beats.
constexpr auto kLookEvery = std::chrono::milliseconds(250);
// Unsent beats to a peer that does not read: beyond this, new ones are dropped whole.
constexpr size_t kOutboxLimit = 64 * kBeatBytes;

int millisecondsUntil(Clock::time_point when) {
  const auto left = std::chrono::duration_cast<milliseconds>(when - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60000));
}

void setNonBlocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

void setNoDelay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// The IPv4 addresses of this host's interfaces that are up, loopback last.
std::vector<std::string> localAddresses() {
  std::vector<std::string> addresses;
  ifaddrs* interfaces = nullptr;
  if (::getifaddrs(&interfaces) == 0) {
    for (const ifaddrs* entry = interfaces; entry != nullptr; entry = entry->ifa_next) {
      if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
      if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
      char text[INET_ADDRSTRLEN] = {};
      const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr) {
        addresses.emplace_back(text);
      }
    }
    ::freeifaddrs(interfaces);
  }
  addresses.emplace_back("127.0.0.1");
  return addresses;
}

// A connected, non-blocking socket to `address`:`port`, or -1 if none within `within`.
int connectWithin(const std::string& address, int port, Clock::duration within) {
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &target.sin_addr) != 1) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setNonBlocking(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
    if (errno != EINPROGRESS) {
      ::close(fd);
      return -1;
    }
    pollfd waiting{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    if (::poll(&waiting, 1, millisecondsUntil(Clock::now() + within)) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      ::close(fd);
      return -1;
    }
  }
  setNoDelay(fd);
  return fd;
}

struct Connection {
  int fd = -1;
  int rank = -1;  // on a hub, -1 until the connection's hello arrives
  std::string inbox;
  std::string outbox;
  std::optional<Beat> hello;  // on a hub, what the rank said first
};

void queue(Connection& connection, const Beat& beat) {
  if (connection.fd < 0 || connection.outbox.size() >= kOutboxLimit) return;
  const BeatBytes bytes = encodeBeat(beat);
  connection.outbox.append(bytes.data(), bytes.size());
}

// Sends what the socket takes now.
void flush(Connection& connection) {
  while (connection.fd >= 0 && !connection.outbox.empty()) {
    const ssize_t sent = ::send(connection.fd, connection.outbox.data(), connection.outbox.size(),
                                MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent <= 0) return;
    connection.outbox.erase(0, static_cast<size_t>(sent));
  }
}

// Reads what has arrived; false once the connection has closed.
bool receive(Connection& connection) {
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got > 0) {
      connection.inbox.append(buffer, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (got < 0 && errno == EINTR) continue;
    return false;
  }
}

std::optional<Beat> nextBeat(Connection& connection) {
  if (connection.inbox.size() < kBeatBytes) return std::nullopt;
  BeatBytes bytes;
  std::copy_n(connection.inbox.begin(), kBeatBytes, bytes.begin());
  connection.inbox.erase(0, kBeatBytes);
  return decodeBeat(bytes);
}

// A hub's listening socket and what the others need to reach it: "port host address...", or
// nothing when it could not listen.
struct Listener {
  int fd = -1;
  std::string where;
};

Listener listenForRanks(int size, const std::string& host) {
  Listener listener;
  listener.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t length = sizeof any;
  if (listener.fd < 0 || ::bind(listener.fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
      ::listen(listener.fd, std::min(size, SOMAXCONN)) != 0 ||
      ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&any), &length) != 0) {
    if (listener.fd >= 0) ::close(listener.fd);
    return {};
  }
  std::ostringstream where;
  where << ntohs(any.sin_port) << " " << host;
  for (const std::string& address : localAddresses()) where << " " << address;
  listener.where = where.str();
  return listener;
}

struct HubAddress {
  Listener listener;  // on the hub itself
  int port = 0;       // 0: the hub could not listen
  std::string host;
  std::vector<std::string> addresses;  // loopback last
};

// Collective: `hub` tells every rank where it listens.
HubAddress announceHub(comm::Communicator& control, int hub, Listener listener) {
  HubAddress address;
  const std::string where = comm::broadcastString(
      control, listener.where.empty() ? "0 " + control.topology().host : listener.where, hub);
  std::istringstream fields(where);
  fields >> address.port >> address.host;
  for (std::string text; fields >> text;) address.addresses.push_back(text);
  address.listener = std::move(listener);
  return address;
}

// A connection to `hub` (fd -1 if none before `deadline`): over loopback first when on its host.
Connection connectToHub(const HubAddress& hub, const std::string& host,
                        Clock::time_point deadline) {
  Connection connection;
  if (hub.port == 0) return connection;
  std::vector<std::string> addresses = hub.addresses;
  if (hub.host == host) std::rotate(addresses.rbegin(), addresses.rbegin() + 1, addresses.rend());
  // An address that drops connection attempts gets a share of the time, not all of it.
  for (size_t tried = 0; tried < addresses.size(); ++tried) {
    const Clock::duration left = std::max(Clock::duration(0), deadline - Clock::now());
    connection.fd = connectWithin(addresses[tried], hub.port,
                                  left / static_cast<int64_t>(addresses.size() - tried));
    if (connection.fd >= 0) break;
  }
  return connection;
}

// On a hub: the connections of `expected` ranks, each known by its hello, as many as arrive
// before `deadline`.
std::vector<Connection> acceptHellos(int listening, const std::vector<int>& expected,
                                     Clock::time_point deadline) {
  std::vector<Connection> accepted;
  std::vector<Connection> pending;
  const auto isExpected = [&](int rank) {
    return std::find(expected.begin(), expected.end(), rank) != expected.end();
  };
  while (listening >= 0 && accepted.size() < expected.size() && Clock::now() < deadline) {
    std::vector<pollfd> polled{{listening, POLLIN, 0}};
    for (const Connection& connection : pending) polled.push_back({connection.fd, POLLIN, 0});
    if (::poll(polled.data(), polled.size(), millisecondsUntil(deadline)) <= 0) continue;
    if ((polled[0].revents & POLLIN) != 0) {
      const int fd = ::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        setNonBlocking(fd);
        setNoDelay(fd);
        pending.push_back({fd, -1, "", "", std::nullopt});
      }
    }
    for (auto it = pending.begin(); it != pending.end();) {
      const bool open = receive(*it);
      if (it->inbox.size() < kBeatBytes && open) {
        ++it;
        continue;
      }
      const std::optional<Beat> hello = nextBeat(*it);
      if (hello && hello->kind == BeatKind::kHello && isExpected(hello->rank)) {
        it->rank = hello->rank;
        it->hello = hello;
        accepted.push_back(std::move(*it));
      } else {
        ::close(it->fd);  // a stray connection
      }
      it = pending.erase(it);
    }
  }
  for (const Connection& connection : pending) ::close(connection.fd);
  return accepted;
}

// Collective: why heartbeats could not start, for rank 0's warning (empty elsewhere).
std::string describeProblem(comm::Communicator& control, bool failed,
                            const std::vector<HubAddress>& hubs, const std::vector<int>& hubRanks) {
  at::Tensor failures = at::zeros({control.size()}, at::kDouble);
  if (failed) failures[control.rank()] = 1.0;
  control.allReduce(failures, comm::ReduceOp::kSum);
  if (control.rank() != 0) return "";
  std::ostringstream text;
  text << "ranks";
  for (int rank = 0; rank < control.size(); ++rank) {
    if (failures[rank].item<double>() > 0) text << " " << rank;
  }
  text << " could not reach the heartbeat hubs (";
  for (size_t h = 0; h < hubs.size(); ++h) {
    text << (h ? "; " : "") << "rank " << hubRanks[h] << " on host " << hubs[h].host;
    if (hubs[h].port == 0) {
      text << ", which could not listen";
      continue;
    }
    text << ", TCP port " << hubs[h].port << " on";
    for (const std::string& address : hubs[h].addresses) text << " " << address;
  }
  text << ")";
  return text.str();
}

}  // namespace

struct Heartbeats::Channel {
  int rank = 0;
  Beat self;
  milliseconds timeout{0};
  milliseconds interval{0};
  std::array<int, 2> hubs{0, 1};  // rank 0, and the lowest rank on another host
  milliseconds wait{0};           // beyond the timeout, before this rank reports (see below)
  Handler onLost;
  // A hub: one per rank it hears (the second hub's first one is to rank 0); another rank: one
  // per hub.
  std::vector<Connection> connections;
  int wakeRead = -1;
  int wakeWrite = -1;
  std::atomic<bool> stopping{false};
  std::atomic<bool> ending{false};  // endJob() asked the thread to tell the others or say goodbye
  std::atomic<bool> told{false};
  mutable std::mutex heardMutex;
  // What the watched ranks last said and when, for lastHeard().
  std::vector<std::pair<Beat, Clock::time_point>> heard;
  std::thread thread;

  ~Channel() {
    for (const Connection& connection : connections) {
      if (connection.fd >= 0) ::close(connection.fd);
    }
    if (wakeRead >= 0) ::close(wakeRead);
    if (wakeWrite >= 0) ::close(wakeWrite);
  }

  bool hub() const { return rank == hubs[0] || rank == hubs[1]; }

  // Leaving normally, or after reporting its own end: nobody should report this rank lost.
  void sayGoodbye(Connection& connection) const {
    if (connection.fd < 0) return;
    connection.outbox.resize(connection.outbox.size() % kBeatBytes);
    queue(connection, beat(BeatKind::kGoodbye));
    flush(connection);
    // Unread input would turn the close into a reset that may lose the goodbye.
    receive(connection);
    ::shutdown(connection.fd, SHUT_WR);
  }

  Beat beat(BeatKind kind) const {
    Beat message = self;
    message.kind = kind;
    const RankState now = currentState();
    message.progress = now.progress;
    message.waiting = now.waiting;
    return message;
  }

  // A hub found ranks lost: the others stop, told over its connections before this process
  // ends.
  void tellTheOthers() {
    for (Connection& connection : connections) {
      if (connection.fd < 0) continue;
      // The rest of a frame partly sent stays, so that the verdict starts a frame of its own.
      connection.outbox.resize(connection.outbox.size() % kBeatBytes);
      queue(connection, beat(BeatKind::kVerdict));
      flush(connection);
      receive(connection);  // unread input would turn the close into a reset that loses it
      ::shutdown(connection.fd, SHUT_WR);
    }
  }

  void run() {
    std::vector<int> watched;
    for (const Connection& connection : connections) watched.push_back(connection.rank);
    Liveness liveness(watched, Clock::now());
    for (const Connection& connection : connections) {
      if (connection.hello) liveness.heard(*connection.hello, Clock::now());
    }
    Clock::time_point nextBeatAt = Clock::now();
    const auto ownPause = std::min<Clock::duration>(kOwnPause, timeout / 4);
    while (!stopping.load()) {
      const Clock::time_point now = Clock::now();
      if (ending.load()) {
        if (hub()) {
          tellTheOthers();
        } else {
          for (Connection& connection : connections) sayGoodbye(connection);
        }
        told.store(true);
        return;
      }
      if (now >= nextBeatAt) {
        for (Connection& connection : connections) queue(connection, beat(BeatKind::kBeat));
        nextBeatAt = now + interval;
      }
      std::vector<pollfd> polled;
      for (Connection& connection : connections) {
        flush(connection);
        if (connection.fd < 0) continue;
        polled.push_back({connection.fd,
                          static_cast<short>(POLLIN | (connection.outbox.empty() ? 0 : POLLOUT)),
                          0});
      }
      const std::vector<LostRank> lost = liveness.lost(now, timeout + wait, kClosedGrace + wait);
      if (!lost.empty()) {
        if (hub()) tellTheOthers();
        onLost(lost);
        return;
      }
      polled.push_back({wakeRead, POLLIN, 0});
      const Clock::time_point wakeAt = std::min(nextBeatAt, now + kLookEvery);
      const int ready = ::poll(polled.data(), polled.size(), millisecondsUntil(wakeAt));
      // Measured before anything heard is stamped, so that a pause moves only older stamps.
      const Clock::duration late = Clock::now() - std::max(wakeAt, now);
      if (late > ownPause) liveness.postpone(late);
      if (ready <= 0) continue;
      size_t next = 0;
      for (Connection& connection : connections) {
        if (connection.fd < 0) continue;
        if (polled[next++].revents == 0) continue;
        const bool open = receive(connection);
        while (const std::optional<Beat> message = nextBeat(connection)) {
          if (message->rank != connection.rank) continue;
          switch (message->kind) {
            case BeatKind::kHello:
            case BeatKind::kBeat:
              liveness.heard(*message, Clock::now());
              break;
            case BeatKind::kGoodbye:
              liveness.leftNormally(connection.rank);
              break;
            case BeatKind::kVerdict:
              onLost({});
              return;
          }
        }
        if (!open) {
          liveness.closed(connection.rank, Clock::now());
          ::close(connection.fd);
          connection.fd = -1;
        }
      }
      const Clock::time_point stamped = Clock::now();
      std::lock_guard<std::mutex> lock(heardMutex);
      heard.clear();
      for (const auto& [beat, seconds] : liveness.lastBeats(stamped)) {
        heard.emplace_back(beat, stamped - std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(seconds)));
      }
    }
  }
};

Heartbeats::Heartbeats(comm::Communicator& control, milliseconds timeout, Handler onLost) {
  const int rank = control.rank();
  const int size = control.size();
  if (size < 2 || timeout.count() <= 0) return;
  auto channel = std::make_unique<Channel>();
  channel->rank = rank;
  channel->self = {
      BeatKind::kHello,        rank,        static_cast<int>(::getpid()), currentProgress(),
      control.topology().host, std::nullopt};
  channel->timeout = timeout;
  channel->interval = std::clamp(timeout / 10, milliseconds(50), milliseconds(1000));
  channel->onLost = std::move(onLost);

  // Rank 0 is the first hub; the second is the lowest rank on another host (rank 1 where all
  // share one), so that one host going away leaves a hub that sees all of its ranks lost.
  const HubAddress first = announceHub(
      control, 0, rank == 0 ? listenForRanks(size, control.topology().host) : Listener{});
  at::Tensor elsewhere =
      at::full({1}, control.topology().host != first.host ? rank : std::numeric_limits<int>::max(),
               at::kDouble);
  control.allReduce(elsewhere, comm::ReduceOp::kMin);
  const int second =
      elsewhere.item<double>() < size ? static_cast<int>(elsewhere.item<double>()) : 1;
  const HubAddress secondHub = announceHub(
      control, second, rank == second ? listenForRanks(size, control.topology().host) : Listener{});
  channel->hubs = {0, second};
  // Rank 0 reports at once; the second hub 2 s later, when rank 0 has not; the others, which
  // watch only the hubs, 6 to 12 s later (ranks 1 to 4 one after the other, the rest with rank 4).
  channel->wait = rank == 0        ? milliseconds(0)
                  : rank == second ? milliseconds(2000)
                                   : milliseconds(4000) + milliseconds(2000) * std::min(rank, 4);

  // Every rank connects to the hubs it is not, then the hubs take the hellos of the others.
  const Clock::time_point deadline = Clock::now() + kConnectWithin;
  bool connected = true;
  for (const auto& [hub, address] : {std::pair{0, first}, std::pair{second, secondHub}}) {
    if (hub == rank || (rank == 0 && hub == second)) continue;
    Connection connection = connectToHub(address, control.topology().host, deadline);
    connection.rank = hub;
    queue(connection, channel->beat(BeatKind::kHello));
    flush(connection);
    connected = connected && connection.fd >= 0;
    channel->connections.push_back(std::move(connection));
  }
  if (rank == 0 || rank == second) {
    std::vector<int> expected;
    for (int other = 0; other < size; ++other) {
      if (other != rank && !(rank == second && other == 0)) expected.push_back(other);
    }
    const Listener& mine = rank == 0 ? first.listener : secondHub.listener;
    for (Connection& connection : acceptHellos(mine.fd, expected, Clock::now() + kAcceptWithin)) {
      channel->connections.push_back(std::move(connection));
    }
    connected = connected && mine.fd >= 0 &&
                channel->connections.size() == expected.size() + (rank == second ? 1 : 0);
  }
  for (const HubAddress* hub : {&first, &secondHub}) {
    if (hub->listener.fd >= 0) ::close(hub->listener.fd);
  }

  at::Tensor everyone = at::full({1}, connected ? 1.0 : 0.0, at::kDouble);
  control.allReduce(everyone, comm::ReduceOp::kMin);
  if (everyone.item<double>() == 0) {
    problem_ = describeProblem(control, !connected, {first, secondHub}, {0, second});
    return;
  }
  int pipeEnds[2];
  RINGTRAIN_CHECK(::pipe2(pipeEnds, O_CLOEXEC | O_NONBLOCK) == 0,
                  "no pipe for the heartbeat thread: " << std::strerror(errno));
  channel->wakeRead = pipeEnds[0];
  channel->wakeWrite = pipeEnds[1];
  Channel* running = channel.get();
  channel->thread = std::thread([running] { running->run(); });
  channel_ = std::move(channel);
  if (hub()) setHeardFrom([this] { return lastHeard(); });
}

Heartbeats::~Heartbeats() {
  if (!channel_) return;
  if (hub()) setHeardFrom(nullptr);
  channel_->stopping.store(true);
  const char wake = 1;
  [[maybe_unused]] const ssize_t written = ::write(channel_->wakeWrite, &wake, 1);
  channel_->thread.join();
  for (Connection& connection : channel_->connections) channel_->sayGoodbye(connection);
}

bool Heartbeats::watching() const {
  return channel_ != nullptr;
}

bool Heartbeats::hub() const {
  return channel_ && channel_->hub();
}

milliseconds Heartbeats::reportDelay() const {
  return channel_ ? channel_->wait : milliseconds(0);
}

std::vector<RankState> Heartbeats::lastHeard() const {
  std::vector<RankState> states;
  if (!channel_) return states;
  std::lock_guard<std::mutex> lock(channel_->heardMutex);
  const Clock::time_point now = Clock::now();
  for (const auto& [beat, heardAt] : channel_->heard) {
    if (beat.host.empty()) continue;  // never heard from
    RankState state;
    state.rank = beat.rank;
    state.known = true;
    state.host = beat.host;
    state.pid = beat.pid;
    state.progress = beat.progress;
    state.waiting = beat.waiting;
    state.silentSeconds = std::chrono::duration<double>(now - heardAt).count();
    states.push_back(std::move(state));
  }
  return states;
}

void Heartbeats::endJob() {
  if (!channel_) return;
  channel_->ending.store(true);
  const char wake = 1;
  [[maybe_unused]] const ssize_t written = ::write(channel_->wakeWrite, &wake, 1);
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  while (!channel_->told.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
}

}  // namespace ringtrain::health
