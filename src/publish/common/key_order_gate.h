// Internal: the promise of a publisher that keeps key order across failures
// (Guarantees::keeps_key_order). Once an event of a key is not published,
// the key is closed: its events handed over afterwards are held back
// (reported kRetry without reaching the bus) until the engine names the key
// in Publisher::Resume(). A publisher closes a key when it reports a failure
// or decides one, and asks Admit() before it hands an event to its bus.
#ifndef HERALD_PUBLISH_COMMON_KEY_ORDER_GATE_H_
#define HERALD_PUBLISH_COMMON_KEY_ORDER_GATE_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

namespace herald::publish {

// Thread-safe. The empty key (no ordering) is never closed.
class KeyOrderGate {
 public:
  // True if an event of `key` may go to the bus now.
  bool Admit(std::string_view key) const;
  // From now on, events of `key` are held back.
  void Close(std::string_view key);
  // Events of `keys` may go to the bus again.
  void Resume(std::span<const std::string> keys);
  // How many keys are closed.
  std::size_t closed() const;

  // The error reported for an event held back.
  static std::string HeldBackError(std::string_view key);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex mu_;
  std::unordered_set<std::string, Hash, std::equal_to<>> closed_;  // guarded by mu_
  // closed_.size(), read without the lock: Admit's fast path.
  std::atomic<std::size_t> count_{0};
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_COMMON_KEY_ORDER_GATE_H_
