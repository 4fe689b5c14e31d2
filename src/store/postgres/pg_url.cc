#include "store/postgres/pg_url.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <charconv>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "core/duration.h"
#include "core/secrets.h"
#include "store/postgres/pg.h"
#include "store/postgres/schema.h"

namespace herald::pg_internal {
namespace {

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int value = 0;
    if (i + 2 >= s.size()) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
    if (ec != std::errc() || end != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::optional<long long> ParseInt(std::string_view s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Applies Herald's parameter `key`=`value` to `url`. False if `key` is not
// Herald's; an error if its value is bad.
Result<bool> ApplyHeraldParam(std::string_view key, const std::string& value, PgUrl& url) {
  if (key == "schema") {
    if (Status s = CheckSchemaName(value); !s.ok()) return std::unexpected(s);
    url.schema = value;
  } else if (key == "partitions") {
    std::optional<long long> n = ParseInt(value);
    if (!n || *n < 1 || *n > kMaxPartitions) {
      return std::unexpected(InvalidArgument(fmt::format(
          "partitions must be a whole number from 1 to {}, not '{}'", kMaxPartitions, value)));
    }
    url.partitions = static_cast<int>(*n);
  } else if (key == "lease") {
    Result<std::chrono::milliseconds> d = ParseDuration(value);
    if (!d || *d < kMinLease || *d > kMaxLease) {
      return std::unexpected(InvalidArgument(fmt::format(
          "lease must be a duration from {} to {} such as 6s or 1500ms (a bare number is "
          "milliseconds), not '{}'",
          FormatDuration(kMinLease), FormatDuration(kMaxLease), value)));
    }
    url.lease = *d;
  } else if (key == "relay_id") {
    if (value.empty() || value.size() > 200) {
      return std::unexpected(InvalidArgument("relay_id must have 1 to 200 characters"));
    }
    url.relay_id = value;
  } else {
    return false;
  }
  return true;
}

// OK if each of the comma-separated `ports` is empty (the default) or a
// number from 1 to 65535.
Status CheckPorts(std::string_view ports) {
  while (true) {
    std::size_t comma = ports.find(',');
    std::string_view port = ports.substr(0, comma);
    std::optional<long long> n = ParseInt(port);
    if (!port.empty() && (!n || *n < 1 || *n > 65535)) {
      return InvalidArgument(fmt::format("port '{}' is not from 1 to 65535", port));
    }
    if (comma == std::string_view::npos) return OkStatus();
    ports.remove_prefix(comma + 1);
  }
}

Status CheckWithLibpq(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options != nullptr) {
    // libpq takes any port text here and fails only when it connects.
    Status port_ok = OkStatus();
    for (PQconninfoOption* o = options; o->keyword != nullptr && port_ok.ok(); ++o) {
      if (std::string_view(o->keyword) == "port" && o->val != nullptr) port_ok = CheckPorts(o->val);
    }
    PQconninfoFree(options);
    return port_ok;
  }
  std::string message = error != nullptr ? error : "out of memory";
  PQfreemem(error);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return InvalidArgument(message);
}

}  // namespace

bool IsPgUrl(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

Result<PgUrl> ParsePgUrl(std::string_view url) {
  PgUrl out;
  out.display = MaskSecrets(url);
  auto fail = [&](const Status& s) {
    return std::unexpected(
        InvalidArgument(fmt::format("database URL '{}': {}", out.display, s.message())));
  };
  if (!IsPgUrl(url)) {
    return fail(InvalidArgument("expected postgres://user@host:port/database"));
  }
  std::size_t q = url.find('?');
  std::string base(url.substr(0, q));
  std::vector<std::string> kept;
  std::set<std::string_view> seen;
  if (q != std::string_view::npos) {
    std::string_view query = url.substr(q + 1);
    while (!query.empty()) {
      std::size_t amp = query.find('&');
      std::string_view item = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (item.empty()) continue;
      std::size_t eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return fail(InvalidArgument(fmt::format("query parameter '{}' is not name=value", item)));
      }
      if (!seen.emplace(item.substr(0, eq)).second) {
        return fail(InvalidArgument(
            fmt::format("query parameter '{}' is given twice", item.substr(0, eq))));
      }
      std::optional<std::string> value = PercentDecode(item.substr(eq + 1));
      if (!value) {
        return fail(InvalidArgument(fmt::format("bad percent-encoding in '{}'", item)));
      }
      Result<bool> herald = ApplyHeraldParam(item.substr(0, eq), *value, out);
      if (!herald) return fail(herald.error());
      if (!*herald) kept.emplace_back(item);
    }
  }
  out.conninfo = base;
  for (std::size_t i = 0; i < kept.size(); ++i) out.conninfo += (i == 0 ? '?' : '&') + kept[i];
  if (Status s = CheckWithLibpq(out.conninfo); !s.ok()) return fail(s);
  return out;
}

}  // namespace herald::pg_internal
