#include "herald/publisher.h"

namespace herald {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPublished:
      return "published";
    case Outcome::kRetry:
      return "retry";
    case Outcome::kUnavailable:
      return "unavailable";
    case Outcome::kRejected:
      return "rejected";
  }
  return "unknown";
}

}  // namespace herald
