#include "store/common/store_common.h"

#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/json_text.h"

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
  Headers headers;
  if (text == "{}") return headers;
  // Parsed as text, not as a DOM: a value written by hand may nest to any
  // depth, and it is kept as its compact JSON text.
  std::string_view trimmed = text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  if (!IsJson(text) || !trimmed.starts_with('{')) {
    constexpr std::size_t kShown = 80;
    return std::unexpected(Internal(fmt::format(
        "event headers are not a JSON object: {}{}", text.substr(0, kShown),
        text.size() > kShown ? "..." : "")));
  }
  for (const auto& [key, value] : ObjectMembers(text)) {
    // A key and a string value are flat literals: parsing them is cheap.
    std::string name = nlohmann::json::parse(key).get<std::string>();
    if (value.starts_with('"')) {
      headers.insert_or_assign(std::move(name), nlohmann::json::parse(value).get<std::string>());
    } else {
      std::string compact;
      AppendCompactJson(value, compact);
      headers.insert_or_assign(std::move(name), std::move(compact));
    }
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
