#include "publish/common/key_order_gate.h"

#include <fmt/format.h>

namespace herald::publish {

bool KeyOrderGate::Admit(std::string_view key) const {
  if (key.empty() || count_.load(std::memory_order_acquire) == 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return !closed_.contains(key);
}

void KeyOrderGate::Close(std::string_view key) {
  if (key.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  closed_.emplace(key);
  count_.store(closed_.size(), std::memory_order_release);
}

void KeyOrderGate::Resume(std::span<const std::string> keys) {
  if (keys.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : keys) {
    if (auto it = closed_.find(key); it != closed_.end()) closed_.erase(it);
  }
  count_.store(closed_.size(), std::memory_order_release);
}

std::size_t KeyOrderGate::closed() const { return count_.load(std::memory_order_acquire); }

std::string KeyOrderGate::HeldBackError(std::string_view key) {
  return fmt::format("held back: an earlier event of key '{}' was not published", key);
}

}  // namespace herald::publish
