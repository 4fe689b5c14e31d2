#include "store/common/store_common.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace herald::store_internal {

Result<std::string> EncodeHeaders(const Headers& headers) {
  if (headers.empty()) return std::string("{}");
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : headers) object[name] = value;
  try {
    return object.dump();
  } catch (const nlohmann::json::exception&) {
    return std::unexpected(InvalidArgument("event headers are not valid UTF-8"));
  }
}

Result<Headers> DecodeHeaders(const std::string& text) {
  nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return std::unexpected(Internal(fmt::format("event headers are not a JSON object: {}", text)));
  }
  Headers headers;
  for (const auto& [name, value] : object.items()) {
    headers.emplace(name, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return headers;
}

OutboxStats SumTopics(std::map<std::string, TopicStats> topics) {
  OutboxStats stats;
  for (auto& [name, t] : topics) {
    stats.pending += t.pending;
    stats.dead_letters += t.dead_letters;
    if (t.oldest_pending_created_at &&
        (!stats.oldest_pending_created_at ||
         *t.oldest_pending_created_at < *stats.oldest_pending_created_at)) {
      stats.oldest_pending_created_at = t.oldest_pending_created_at;
    }
    stats.topics.push_back(std::move(t));
  }
  return stats;
}

Status CheckDeadLetterFilter(const DeadLetterFilter& filter) {
  const int chosen = int{!filter.ids.empty()} + int{filter.topic.has_value()} + int{filter.all};
  if (chosen == 1) return OkStatus();
  return InvalidArgument(chosen == 0
                             ? "no dead letters selected: give event ids, a topic, or all"
                             : "select dead letters by exactly one of: event ids, a topic, all");
}

}  // namespace herald::store_internal
