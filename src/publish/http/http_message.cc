#include "publish/http/http_message.h"


#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "publish/http/webhook_signature.h"

namespace herald::publish {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool IsTokenChar(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string_view AttributeName(CloudEventsAttribute attribute) {
  switch (attribute) {
    case CloudEventsAttribute::kId:
      return "id";
    case CloudEventsAttribute::kType:
      return "type";
    case CloudEventsAttribute::kSource:
      return "source";
    case CloudEventsAttribute::kTime:
      return "time";
    case CloudEventsAttribute::kSpecVersion:
      return "specversion";
    case CloudEventsAttribute::kSubject:
      return "subject";
    case CloudEventsAttribute::kDataContentType:
      return "datacontenttype";
  }
  return {};
}

bool IsExtensionName(std::string_view name) {
  if (name.empty() || name.size() > 20) return false;
  for (unsigned char c : name) {
    if (!std::islower(c) && !std::isdigit(c)) return false;
  }
  for (std::string_view core : {"id", "type", "source", "time", "specversion", "subject",
                                "datacontenttype", "dataschema", "data", "data_base64"}) {
    if (name == core) return false;
  }
  return true;
}

}  // namespace

std::string CheckHttpHeaders(const Event& event) {
  for (const auto& [name, value] : event.headers) {
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) {
          return IsTokenChar(static_cast<unsigned char>(c));
        })) {
      return fmt::format("header name '{}' is not an HTTP token", name);
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return fmt::format("header '{}' has a CR, LF or NUL in its value", name);
    }
  }
  return {};
}

bool IsReservedHttpHeader(std::string_view name) {
  if (name.size() >= 3 && EqualsNoCase(name.substr(0, 3), "ce-")) return true;
  if (name.size() >= 8 && EqualsNoCase(name.substr(0, 8), "webhook-")) return true;
  for (std::string_view reserved :
       {"content-type", "content-length", "idempotency-key", "host", "transfer-encoding",
        "connection", "expect", "keep-alive", "te", "trailer", "upgrade", "user-agent"}) {
    if (EqualsNoCase(name, reserved)) return true;
  }
  return false;
}

HttpHeaders SingleRequestHeaders(const Event& event, const CloudEventsOptions& options) {
  HttpHeaders out;
  CloudEventsHeaders ce(event, options, CloudEventsBinding::kHttp);
  out.reserve(ce.size() + 1 + event.headers.size());
  for (const CloudEventsHeader& h : ce) out.emplace_back(h.name, h.value);
  out.emplace_back("Idempotency-Key", event.id.ToString());
  for (const auto& [name, value] : event.headers) {
    if (!IsReservedHttpHeader(name)) out.emplace_back(name, value);
  }
  return out;
}

std::string BatchBody(std::span<const Event* const> events, const CloudEventsOptions& options) {
  nlohmann::json array = nlohmann::json::array();
  for (const Event* event : events) {
    nlohmann::json e = nlohmann::json::object();
    CloudEventsHeaders ce(*event, options, CloudEventsBinding::kHttp);
    for (const CloudEventsHeader& h : ce) e[std::string(AttributeName(h.attribute))] = h.value;
    bool as_json = false;
    if (IsJsonContentType(event->content_type)) {
      nlohmann::json data = nlohmann::json::parse(event->payload, nullptr, /*allow_exceptions=*/false);
      if (!data.is_discarded()) {
        e["data"] = std::move(data);
        as_json = true;
      }
    }
    if (!as_json) e["data_base64"] = Base64Encode(event->payload);
    for (const auto& [name, value] : event->headers) {
      if (IsExtensionName(name)) e[name] = value;
    }
    array.push_back(std::move(e));
  }
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string BatchId(std::span<const Event* const> events) {
  std::string ids;
  ids.reserve(events.size() * 37);
  for (const Event* e : events) {
    ids += e->id.ToString();
    ids.push_back(',');
  }
  return "batch_" + Sha256Hex(ids).substr(0, 32);
}

}  // namespace herald::publish
