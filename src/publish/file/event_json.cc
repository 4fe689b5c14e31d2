#include "publish/file/event_json.h"

#include "core/base64.h"
#include "core/json_text.h"

namespace herald::publish {
namespace {

void AppendMember(std::string_view name, std::string_view value, std::string& out) {
  out.push_back('"');
  out.append(name);
  out += "\":";
  AppendJsonString(value, out);
}

}  // namespace

void AppendEventJson(const Event& event, std::string& out, std::string_view extra_members) {
  out += "{\"event_id\":\"";
  out += event.id.ToString();
  out += "\",";
  AppendMember("topic", event.topic, out);
  out.push_back(',');
  AppendMember("key", event.key, out);
  out.push_back(',');
  AppendMember("type", event.type, out);
  out += ",\"payload\":";
  if (IsJsonContentType(event.content_type) && IsJson(event.payload)) {
    AppendCompactJson(event.payload, out);
  } else if (IsUtf8(event.payload)) {
    AppendJsonString(event.payload, out);
  } else {
    out.push_back('"');
    AppendBase64(event.payload, out);
    out += "\",\"payload_encoding\":\"base64\"";
  }
  out.push_back(',');
  AppendMember("content_type", event.content_type, out);
  out += ",\"headers\":{";
  bool first = true;
  for (const auto& [name, value] : event.headers) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(name, out);
    out.push_back(':');
    AppendJsonString(value, out);
  }
  out += "},";
  AppendMember("created_at", FormatRfc3339(event.created_at), out);
  out.append(extra_members);
  out.push_back('}');
}

}  // namespace herald::publish
