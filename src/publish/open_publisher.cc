// OpenPublisher: maps a URL's scheme to the bus that serves it, through the
// list of this build's schemes (publish/scheme.h).
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "herald/publisher.h"
#include "publish/scheme.h"

namespace herald {
namespace {

std::string SupportedSchemes() {
  std::string out;
  for (const publish::Scheme* s : publish::AllSchemes()) {
    if (!out.empty()) out += ", ";
    out += s->name;
  }
  return out;
}

bool IsSchemeName(std::string_view s) {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
  });
}

}  // namespace

Result<std::unique_ptr<Publisher>> OpenPublisher(std::string_view url,
                                                 const PublisherOptions& options) {
  // A bare scheme name such as "stdout" means "stdout:".
  std::size_t colon = url.find(':');
  std::string_view scheme = url.substr(0, colon);
  if (!IsSchemeName(scheme)) {
    return std::unexpected(InvalidArgument(fmt::format(
        "malformed publisher URL '{}' (expected SCHEME:..., e.g. stdout: or file:PATH)", url)));
  }
  for (const publish::Scheme* s : publish::AllSchemes()) {
    if (s->name == scheme) return s->open(url, options);
  }
  return std::unexpected(InvalidArgument(fmt::format(
      "unknown publisher scheme '{}' in '{}' (supported: {})", scheme, url, SupportedSchemes())));
}

std::vector<PublisherScheme> PublisherSchemes() {
  std::vector<PublisherScheme> out;
  for (const publish::Scheme* s : publish::AllSchemes()) {
    out.push_back({s->name, s->form, s->doc, s->library != nullptr ? s->library() : ""});
  }
  return out;
}

}  // namespace herald
