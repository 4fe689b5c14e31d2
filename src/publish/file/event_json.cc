#include "publish/file/event_json.h"

#include <utility>

namespace herald::publish {
namespace {

using Json = nlohmann::ordered_json;

Json PayloadValue(const Event& event) {
  if (IsJsonContentType(event.content_type)) {
    Json parsed = Json::parse(event.payload, /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) return parsed;
  }
  return Json(event.payload);
}

}  // namespace

Json EventJson(const Event& event) {
  Json out = Json::object();
  out["event_id"] = event.id.ToString();
  out["topic"] = event.topic;
  out["key"] = event.key;
  out["type"] = event.type;
  out["payload"] = PayloadValue(event);
  out["content_type"] = event.content_type;
  Json headers = Json::object();
  for (const auto& [name, value] : event.headers) headers[name] = value;
  out["headers"] = std::move(headers);
  out["created_at"] = FormatRfc3339(event.created_at);
  return out;
}

std::string DumpJsonLine(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace herald::publish
