// What every benchmark here shares: failing loudly, timing, the machine's
// description and the workload's events.
#ifndef HERALD_BENCH_BENCH_SUPPORT_H_
#define HERALD_BENCH_BENCH_SUPPORT_H_

#include <errno.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "herald/event.h"
#include "herald/status.h"

namespace herald::bench {

// Distinct keys of the workload, so per-key ordering has work to do.
inline constexpr int kKeys = 64;

// Exits with a message naming the program when `ok` is false.
inline void Check(bool ok, std::string_view what) {
  if (!ok) {
    std::fprintf(stderr, "%s: %.*s\n", program_invocation_short_name,
                 static_cast<int>(what.size()), what.data());
    std::exit(1);
  }
}

inline void Check(const Status& s, std::string_view what) {
  Check(s.ok(), fmt::format("{}: {}", what, s.ToString()));
}

inline double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

inline std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// A JSON payload of about `bytes` bytes for the i-th transaction.
inline std::string Payload(std::size_t bytes, long i) {
  std::string p = fmt::format(R"({{"account":"acct-{}","amount_cents":{},"note":")", i % kKeys, i);
  while (p.size() + 2 < bytes) p.push_back('x');
  return p + "\"}";
}

// The i-th TransactionCreated event, keyed by its account.
inline Event MakeEvent(std::size_t payload_bytes, long i) {
  return Event::Make("transactions", fmt::format("acct-{}", i % kKeys), "TransactionCreated",
                     Payload(payload_bytes, i));
}

}  // namespace herald::bench

#endif  // HERALD_BENCH_BENCH_SUPPORT_H_
