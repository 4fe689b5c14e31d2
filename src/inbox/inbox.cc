#include "herald/inbox.h"

namespace herald {

std::string_view InboxOutcomeName(InboxOutcome outcome) {
  switch (outcome) {
    case InboxOutcome::kProcessed:
      return "processed";
    case InboxOutcome::kDuplicate:
      return "duplicate";
  }
  return "unknown";
}

namespace internal {

void InboxCounters::Count(const Result<InboxOutcome>& result) {
  if (!result) {
    failures_.fetch_add(1, std::memory_order_relaxed);
  } else if (*result == InboxOutcome::kProcessed) {
    processed_.fetch_add(1, std::memory_order_relaxed);
  } else {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
  }
}

InboxStats InboxCounters::Get() const {
  return {processed_.load(std::memory_order_relaxed), duplicates_.load(std::memory_order_relaxed),
          failures_.load(std::memory_order_relaxed)};
}

}  // namespace internal
}  // namespace herald
